import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { finished } from 'node:stream/promises';
import { Inject, Injectable } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KilnError, type HandlerOutcome, type PayloadOf } from '@kiln/contracts';
import { PRISMA, type PrismaClient } from '@kiln/database';
import { LOGGER, KilnMetrics, type Logger } from '@kiln/observability';
import type { JobHandler } from '@kiln/queue';
import { OBJECT_STORE, type ObjectStore } from '@kiln/storage';
import { TransferClock, callbackSecretsFor, guardedRequest, signCallback } from '@kiln/outbound-http';
import { JobLifecycle, gatewayBaseUrl, jobView, outputUrlSigner } from '@kiln/workflow';
import { RECORD_PATIENCE_MS, recordPatiently } from './record-patiently';

interface Attempt {
  statusCode: number | null;
  error: string | null;
  /** The URL resolved to a refused (private) address: final, never retried. */
  refused?: boolean;
}

/**
 * Sends one signed POST through the private-address guard, within `timeoutMs` for everything (no
 * redirects followed: a 3xx is the receiver's answer); never throws (the outcome is recorded either way).
 */
export async function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  allowPrivate: boolean,
): Promise<Attempt> {
  const target = new URL(url);
  const noAnswer = () => new Error(`no answer within ${timeoutMs} ms`);
  const clock = new TransferClock({ idleMs: timeoutMs, totalMs: timeoutMs, idleError: noAnswer, totalError: noAnswer });
  let res: IncomingMessage | undefined;
  try {
    res = await guardedRequest(target, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
        'User-Agent': 'Kiln-Callback/1',
        ...headers,
      },
      body,
      allowPrivate,
      clock,
    });
    await finished(res.resume()); // the receiver's body is not needed
    return { statusCode: res.statusCode ?? null, error: null };
  } catch (err: unknown) {
    const failure = clock.failure ?? err;
    if (res) return { statusCode: res.statusCode ?? null, error: messageOf(failure) };
    return { statusCode: null, error: messageOf(failure), refused: failure instanceof KilnError };
  } finally {
    clock.close();
    res?.destroy();
  }
}

/** An error's message; `instanceof Error` is not used since errors may come from another realm. */
function messageOf(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}

/**
 * Delivers a job event to the job's callback URL: the Job JSON, signed, one delivery id for all
 * attempts. 2xx delivered; 5xx, 408, 429 and network errors retried with backoff (BullMQ attempts);
 * other answers are final. Every attempt is recorded.
 */
@Injectable()
export class CallbackHandler implements JobHandler<'callback'> {
  readonly queue = 'callback' as const;

  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly lifecycle: JobLifecycle,
    @Inject(KilnMetrics) private readonly metrics: KilnMetrics,
  ) {}

  async handle(payload: PayloadOf<'callback'>): Promise<HandlerOutcome> {
    // PostgreSQL is the ledger (the outbox): a delivery it holds as delivered or failed is never
    // sent again, even when Redis lost the callback job's completion and runs it once more. The
    // attempt number is counted there too, so attempts stay bounded when the reconciler resumes a
    // delivery whose queue entry was lost. Counted while the job is read (a small job's time is
    // mostly round trips).
    const [job, attempt] = await Promise.all([this.lifecycle.load(payload.jobId), this.nextAttempt(payload)]);
    if (!job?.callback) {
      // The URL was removed since: the delivery ends here (never resumed again).
      if (typeof attempt === 'number')
        await this.prisma.delivery.updateMany({
          where: { deliveryId: payload.deliveryId, state: 'pending' },
          data: { state: 'failed' },
        });
      return { status: 'skipped', reason: 'no callback URL' };
    }
    if (typeof attempt === 'string') return { status: 'skipped', reason: attempt };
    const isLastAttempt = attempt >= this.lifecycle.callbackAttempts;
    const view = await jobView(
      job,
      outputUrlSigner(
        this.store,
        this.config.KILN_DOWNLOAD_URL_TTL_SECONDS,
        this.config.KILN_JOB_RETENTION_SECONDS,
        gatewayBaseUrl(this.config),
      ),
    );
    const body = JSON.stringify(view);
    const started = Date.now();
    const result = await postJson(
      job.callback,
      body,
      {
        'X-Kiln-Event': payload.event,
        'X-Kiln-Delivery': payload.deliveryId,
        'X-Kiln-Attempt': String(attempt),
        'X-Kiln-Signature': signCallback(callbackSecretsFor(job.ownerKeyHash, this.config), body),
      },
      this.config.KILN_CALLBACK_TIMEOUT_MS,
      this.config.KILN_ALLOW_PRIVATE_URLS,
    );
    const durationMs = Date.now() - started;
    const code = result.statusCode;
    const delivered = code !== null && code >= 200 && code < 300;
    const retryable = !result.refused && (code === null || code >= 500 || code === 408 || code === 429);
    const final = delivered || !retryable || isLastAttempt;
    // The POST went out: its outcome is recorded even across a database outage, or the retry
    // would send the same delivery again.
    const url = job.callback;
    const recordOutcome = () =>
      this.prisma.$transaction([
        this.prisma.callbackDelivery.upsert({
          where: { deliveryId_attempt: { deliveryId: payload.deliveryId, attempt } },
          create: {
            id: randomUUID(),
            jobId: job.id,
            deliveryId: payload.deliveryId,
            event: payload.event,
            url,
            attempt,
            statusCode: result.statusCode,
            error: result.error,
            durationMs,
          },
          update: { statusCode: result.statusCode, error: result.error, durationMs, at: new Date() },
        }),
        ...(final
          ? [
              this.prisma.delivery.updateMany({
                where: { deliveryId: payload.deliveryId },
                data: { state: delivered ? 'delivered' : 'failed' },
              }),
            ]
          : []),
      ]);
    await recordPatiently(recordOutcome, RECORD_PATIENCE_MS, (err) =>
      this.log.warn(
        { jobId: job.id, deliveryId: payload.deliveryId, attempt, err: String(err) },
        'callback outcome not recorded yet; retrying',
      ),
    );
    this.metrics.callbackAttempts.inc({
      outcome: delivered ? 'delivered' : result.refused ? 'refused' : retryable && !isLastAttempt ? 'retry' : 'failed',
    });
    if (delivered) return { status: 'success', detail: `delivered (${code})` };
    const why = result.error ?? `answered ${code}`;
    if (!final) throw new Error(`callback not delivered: ${why}; will retry`);
    await this.noteFailure(
      job.id,
      payload.event,
      code === 410 ? 'the receiver answered 410 Gone; not retried' : `not delivered: ${why}`,
    );
    this.log.warn(
      { jobId: job.id, event: payload.event, deliveryId: payload.deliveryId, attempt, why },
      'callback not delivered; no more attempts',
    );
    return { status: 'failed', code: 'callback_failed', message: why };
  }

  /**
   * Counts this attempt in the outbox: its number, or why nothing is sent (the delivery is final).
   * A delivery queued before the outbox existed gets its row here.
   */
  private async nextAttempt(payload: PayloadOf<'callback'>): Promise<number | string> {
    const { deliveryId, jobId, event } = payload;
    // One statement: the row made when missing, the attempt counted while the delivery is pending.
    const rows = await this.prisma.$queryRaw<{ attempts: number }[]>`
      INSERT INTO deliveries (delivery_id, job_id, event, state, attempts, created_at, updated_at)
      SELECT ${deliveryId}::uuid, ${jobId}::uuid, ${event}, 'pending', 1, now(), now()
      WHERE EXISTS (SELECT 1 FROM jobs WHERE id = ${jobId}::uuid)
      ON CONFLICT (delivery_id) DO UPDATE SET attempts = deliveries.attempts + 1, updated_at = now()
        WHERE deliveries.state = 'pending'
      RETURNING attempts`;
    if (rows.length) return rows[0].attempts;
    const row = await this.prisma.delivery.findUnique({
      where: { deliveryId },
      select: { state: true, attempts: true },
    });
    return `already ${row?.state ?? 'gone'} (after ${row?.attempts ?? 0} attempts)`;
  }

  private async noteFailure(jobId: string, event: string, message: string): Promise<void> {
    await this.prisma.$executeRaw`
      UPDATE jobs SET errors = errors || ${JSON.stringify([{ code: 'callback_failed', message: `${event}: ${message}`, source: 'callback' }])}::jsonb
      WHERE id = ${jobId}::uuid`;
  }
}
