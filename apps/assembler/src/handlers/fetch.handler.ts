import type { IncomingMessage } from 'node:http';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KilnError, type HandlerOutcome, type PayloadOf } from '@kiln/contracts';
import { PRISMA, type Input, type PrismaClient } from '@kiln/database';
import { LOGGER, type Logger } from '@kiln/observability';
import type { HandlerContext, JobHandler } from '@kiln/queue';
import { OBJECT_STORE, objectKeys, type ObjectStore } from '@kiln/storage';
import { CancelSignals } from '@kiln/worker-runtime';
import { OutboundRefusal, TransferClock, checkTarget, getFollowingRedirects } from '@kiln/outbound-http';
import { JobLifecycle } from '@kiln/workflow';
import { fetchedFilename } from '../filename';

/** Answers worth another attempt later (the server said so, or is briefly unwell). */
const RETRYABLE_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);
/** Socket errors a later attempt may not see. */
const TRANSIENT_ERRNOS = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * Why a download ended without a file. `code` goes into the job's `errors[]`:
 * `invalid_input` (the URL, or a redirect, is not acceptable), `payload_too_large`, `download_failed`
 * (the remote side failed: HTTP status, DNS, network, TLS, timeout). `transient` failures are
 * retried while BullMQ attempts remain.
 */
export class FetchFailure extends Error {
  constructor(
    readonly code: 'invalid_input' | 'payload_too_large' | 'download_failed',
    message: string,
    readonly transient: boolean,
  ) {
    super(message);
    this.name = 'FetchFailure';
  }
}

/** A failure on our side (object storage), not the remote's: thrown for a retry, never blamed on the input. */
class StoreFailure extends Error {
  constructor(readonly storeError: unknown) {
    super(`storing the download failed: ${messageOf(storeError)}`);
    this.name = 'StoreFailure';
  }
}

/** A Content-Length we can trust: one non-negative safe integer (repeated values must agree). */
export function parseContentLength(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const values = [...new Set(header.split(',').map((v) => v.trim()))];
  if (values.length !== 1 || !/^\d{1,16}$/.test(values[0])) return undefined;
  const n = Number(values[0]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Maps whatever a download attempt threw to a FetchFailure; null when it is not the remote's doing. */
export function classifyFetchError(err: unknown, host: string): FetchFailure | null {
  if (err instanceof FetchFailure) return err;
  if (err instanceof StoreFailure) return null;
  if (err instanceof OutboundRefusal) {
    // The URL or a redirect is not acceptable; a redirect without a Location is the remote's fault.
    return new FetchFailure(err.reason === 'no_location' ? 'download_failed' : 'invalid_input', err.message, false);
  }
  if (err instanceof KilnError) {
    // guardedLookup refused a resolved address.
    return new FetchFailure(err.code === 'invalid_input' ? 'invalid_input' : 'download_failed', err.message, false);
  }
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  const message = messageOf(err);
  if (code === 'ENOTFOUND') return new FetchFailure('download_failed', `the host ${host} could not be resolved`, false);
  if (code.startsWith('HPE_'))
    return new FetchFailure('download_failed', `${host} sent an invalid HTTP answer (${message})`, false);
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET/.test(code)) {
    return new FetchFailure('download_failed', `TLS with ${host} failed: ${message}`, false);
  }
  if (message === 'aborted')
    return new FetchFailure('download_failed', `${host} closed the connection before the whole body arrived`, true);
  if (TRANSIENT_ERRNOS.has(code) || message === 'socket hang up') {
    return new FetchFailure(
      'download_failed',
      `the connection to ${host} failed: ${message}${code && !message.includes(code) ? ` (${code})` : ''}`,
      true,
    );
  }
  return new FetchFailure('download_failed', `downloading from ${host} failed: ${message}`, true);
}

interface Downloaded {
  key: string;
  size: number;
  sha256: string;
  filename: string;
  contentType: string | null;
  finalUrl: URL;
  redirects: number;
}

/**
 * Downloads a remote input (queue `fetch`) into `inputs/{jobId}/{inputId}/{filename}`, streamed
 * with a byte limit, every connection through the private-address guard, redirects followed by
 * hand (@kiln/outbound-http). Then the input is ready and the job starts if it should.
 *
 * Retry policy: failures another attempt may cure (network errors, 408/425/429/5xx answers, idle
 * timeout, a body shorter than announced, DNS EAI_AGAIN) are thrown for a BullMQ retry (input stays
 * `uploading`, job `downloading`) unless this is the last attempt; everything else — refused
 * address, bad or too many redirects, other 4xx, too large, unknown host, TLS, overall time limit —
 * fails the input at once (`JobLifecycle.failInput`) and returns a `failed` outcome. Storage errors
 * are ours, not the input's: always thrown, and on the last attempt the input is failed as `internal`.
 */
@Injectable()
export class FetchHandler implements JobHandler<'fetch'> {
  readonly queue = 'fetch' as const;

  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly lifecycle: JobLifecycle,
    /** Cluster-wide cancel: DELETE /v1/jobs/{id} stops a download in flight. */
    @Optional() private readonly cancels?: CancelSignals,
  ) {}

  async handle({ jobId, inputId }: PayloadOf<'fetch'>, ctx: HandlerContext): Promise<HandlerOutcome> {
    const input = await this.prisma.input.findUnique({
      where: { id: inputId },
      include: { job: { select: { status: true } } },
    });
    if (!input || input.jobId !== jobId) return { status: 'skipped', reason: 'input no longer exists' };
    if (input.type !== 'remote' || !input.source) return { status: 'skipped', reason: 'not a remote input' };
    if (input.status === 'ready' || input.status === 'failed') {
      // A retry after the job could not be started (e.g. Redis was down): start it now.
      if (input.status === 'ready') await this.lifecycle.startIfReady(jobId);
      return { status: 'skipped', reason: `input is already ${input.status}` };
    }
    if (!['incomplete', 'downloading'].includes(input.job.status))
      return { status: 'skipped', reason: `job is ${input.job.status}` };
    const claimed = await this.prisma.input.updateMany({
      where: { id: inputId, status: { in: ['pending', 'uploading'] } },
      data: { status: 'uploading', error: null },
    });
    if (!claimed.count) return { status: 'skipped', reason: 'input changed meanwhile' };

    const started = Date.now();
    const cancel = this.cancels?.register(jobId);
    let file: Downloaded;
    try {
      file = await this.download(input, cancel ? AbortSignal.any([ctx.signal, cancel.signal]) : ctx.signal);
    } catch (err: unknown) {
      if (cancel?.signal.aborted && !ctx.signal.aborted) {
        this.log.info({ jobId, inputId }, 'job canceled: remote download stopped');
        return { status: 'skipped', reason: 'job canceled during the download' };
      }
      return this.onError(err, input, ctx);
    } finally {
      cancel?.release();
    }

    const readyAt = new Date();
    const stored = await this.prisma.input.updateMany({
      // Not when the job was canceled (or started without this input) while the bytes flowed.
      where: { id: inputId, status: 'uploading', job: { status: { in: ['incomplete', 'downloading'] } } },
      data: {
        status: 'ready',
        filename: file.filename,
        size: BigInt(file.size),
        contentType: file.contentType,
        checksumSha256: file.sha256,
        objectKey: file.key,
        readyAt,
        error: null,
      },
    });
    if (!stored.count) {
      await this.store.remove(file.key);
      return { status: 'skipped', reason: 'the job or input changed while downloading; the file was discarded' };
    }
    await this.lifecycle.startIfReady(jobId);
    const ms = Date.now() - started;
    this.log.info(
      { jobId, inputId, size: file.size, redirects: file.redirects, host: file.finalUrl.host, ms },
      'remote input fetched',
    );
    return {
      status: 'success',
      detail: `${file.size} bytes from ${file.finalUrl.host} (${file.redirects} redirects) in ${ms} ms`,
    };
  }

  private async download(input: Input, signal: AbortSignal): Promise<Downloaded> {
    const allowPrivate = this.config.KILN_ALLOW_PRIVATE_URLS;
    const maxBytes = this.config.KILN_MAX_FILE_SIZE;
    const idleMs = this.config.KILN_FETCH_TIMEOUT_SECONDS * 1000;
    const totalMs = this.config.KILN_FETCH_MAX_SECONDS * 1000;
    const clock = new TransferClock({
      idleMs,
      totalMs,
      signal,
      idleError: (host, answered) =>
        new FetchFailure(
          'download_failed',
          `${host} ${answered ? 'sent no data' : 'did not answer'} for ${Math.round(idleMs / 1000)} s (timeout)`,
          true,
        ),
      totalError: () =>
        new FetchFailure(
          'download_failed',
          `the download did not finish within ${Math.round(totalMs / 1000)} s`,
          false,
        ),
    });
    let res: IncomingMessage | undefined;
    try {
      const answer = await getFollowingRedirects(
        checkTarget(input.source!, allowPrivate),
        {
          headers: { 'User-Agent': 'Kiln-Fetch/1', Accept: '*/*', 'Accept-Encoding': 'identity' },
          allowPrivate,
          clock,
        },
        (err, hop) => classifyFetchError(err, hop.host) ?? err,
      );
      res = answer.response;
      const { url, redirects } = answer;
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) {
        const text = `${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`;
        throw new FetchFailure('download_failed', `${url.host} answered ${text}`, RETRYABLE_STATUSES.has(status));
      }
      const size = parseContentLength(res.headers['content-length']);
      if (size !== undefined && size > maxBytes) {
        throw new FetchFailure('payload_too_large', `the file has ${size} bytes; the limit is ${maxBytes}`, false);
      }
      const filename = fetchedFilename(input.filename, res.headers['content-disposition'], url);
      const contentType = res.headers['content-type']?.trim().slice(0, 255) || null;
      const key = objectKeys.input(input.jobId, input.id, filename);
      let sourceError: unknown;
      res.on('error', (err: unknown) => (sourceError ??= err));
      try {
        const put = await this.store.put(key, res, { size, contentType: contentType ?? undefined, maxBytes });
        return { key, size: put.size, sha256: put.sha256, filename, contentType, finalUrl: url, redirects };
      } catch (err: unknown) {
        if (clock.failure !== undefined) throw clock.failure;
        if (sourceError !== undefined) throw classifyFetchError(sourceError, url.host) ?? sourceError;
        if (err instanceof KilnError && err.code === 'payload_too_large') {
          throw new FetchFailure('payload_too_large', `the file is larger than the limit of ${maxBytes} bytes`, false);
        }
        if (err instanceof KilnError && err.code === 'invalid_input' && size !== undefined) {
          throw new FetchFailure(
            'download_failed',
            `${url.host} sent a body that does not match its Content-Length of ${size}`,
            true,
          );
        }
        throw new StoreFailure(err);
      }
    } finally {
      clock.close();
      res?.destroy(); // no-op after a complete body; frees the socket otherwise
    }
  }

  private async onError(err: unknown, input: Input, ctx: HandlerContext): Promise<HandlerOutcome> {
    const { jobId, id: inputId } = input;
    const host = safeHost(input.source!);
    if (ctx.signal.aborted) throw err; // shutdown: another worker takes the job over
    const failure = classifyFetchError(err, host);
    if (!failure) {
      const store = err as StoreFailure;
      if (ctx.isLastAttempt) await this.lifecycle.failInput(jobId, inputId, store.message, 'internal');
      throw store.storeError;
    }
    if (failure.transient && !ctx.isLastAttempt) {
      this.log.warn(
        { jobId, inputId, attempt: ctx.attempt, reason: failure.message },
        'remote input fetch failed; will retry',
      );
      throw new Error(`${failure.message}; will retry`);
    }
    await this.lifecycle.failInput(jobId, inputId, `download failed: ${failure.message}`, failure.code);
    return { status: 'failed', code: failure.code, message: failure.message };
  }
}

/** An error's message; `instanceof Error` is not used since errors may come from another realm. */
function messageOf(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the remote host';
  }
}
