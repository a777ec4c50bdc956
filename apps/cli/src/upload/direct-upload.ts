// Sends a file of a direct upload session straight to S3: a small file as the presigned POST form,
// a large one as parts (presigned PUT URLs signed in batches, each part's exact byte range streamed
// from disk, a few at once, re-signed when S3 refuses an expired URL), then `complete`. A resumed
// session re-sends only the parts S3 does not hold with the right size and MD5.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { KilnClient } from '../api/kiln-client';
import { ApiError } from '../api/api-error';
import { withRetry, type RetryPolicy } from '../api/retry';
import type { DirectUploadView, HeldPart, SignedPart } from '../api/types';
import { chunkBody } from './chunk-body';
import { multipartFormBody } from './multipart-body';
import type { ByteRange } from './range-plan';
import type { RateLimiter } from './rate-limiter';
import { etagMd5, s3Error, s3Fetch } from './s3-request';
import { inPool } from './session-upload';

export interface DirectUploadOptions {
  api: KilnClient;
  path: string;
  /** The file's name in messages and in the form's file part. */
  name: string;
  parallel: number;
  retry: RetryPolicy;
  limiter?: RateLimiter;
  signal?: AbortSignal;
  /** Parts signed per `POST /v1/uploads/{id}/parts` (default 50; the API takes up to 1000). */
  signBatch?: number;
  /** Called once before any byte is sent, with the bytes S3 already holds (verified). */
  onStart?: (stored: number) => void;
  /** Bytes sent (negative when a failed try's bytes are taken back). */
  onBytes?: (n: number) => void;
  onRetry?: (what: string, err: unknown, attempt: number, delayMs: number) => void;
}

/** The saved session cannot be continued (its form expired and nothing was stored): start a new one. */
export class StaleDirectSession extends Error {
  override readonly name = 'StaleDirectSession';
}

/** Part n (1-based) of a file cut in `partSize` pieces: inclusive byte range. */
export function partRange(n: number, partSize: number, size: number): ByteRange {
  return { start: (n - 1) * partSize, end: Math.min(n * partSize, size) - 1 };
}

const rangeLength = (r: ByteRange) => r.end - r.start + 1;

/** Sends what `session` is missing and answers the completed session. */
export async function uploadDirect(session: DirectUploadView, o: DirectUploadOptions): Promise<DirectUploadView> {
  if (session.transfer === 'form') return uploadForm(session, o);
  if (session.transfer === 'multipart') return uploadParts(session, o);
  throw new Error(`upload ${session.id}: the server answered an unknown direct transfer "${session.transfer}"`);
}

// ---- form (one POST of the whole file) ------------------------------------------------------------

async function uploadForm(session: DirectUploadView, o: DirectUploadOptions): Promise<DirectUploadView> {
  const { form_post_url: url, form_post_params: params, form_post_expires_at: expires } = session;
  if (!url || !params || (expires && expires * 1000 < Date.now() + 5_000)) {
    // A resumed session: the form is given only when the session is created (and lives a while), but
    // the file may have reached S3 before the run stopped.
    try {
      return await o.api.completeUploadSession(session.id, o.signal);
    } catch (err: unknown) {
      if (err instanceof ApiError && err.status === 400)
        throw new StaleDirectSession(`the upload form of ${o.name} can no longer be posted`);
      throw err;
    }
  }
  o.onStart?.(0);
  const what = `the upload of ${o.name}`;
  await withRetry(
    async () => {
      let sent = 0;
      let counting = true;
      const file = chunkBody(
        o.path,
        { start: 0, end: session.size - 1 },
        (n) => {
          if (!counting) return;
          sent += n;
          o.onBytes?.(n);
        },
        o.limiter,
        o.signal,
      );
      const form = multipartFormBody(
        params,
        {
          field: 'file',
          filename: o.name,
          contentType: params['Content-Type'] ?? params['content-type'] ?? 'application/octet-stream',
          size: session.size,
        },
        file,
      );
      try {
        const res = await s3Fetch(
          url,
          {
            method: 'POST',
            headers: { 'Content-Type': form.contentType, 'Content-Length': String(form.length) },
            body: form.body,
            signal: o.signal,
          },
          what,
        );
        if (!res.ok) throw await s3Error(res, what);
        await res.arrayBuffer();
      } catch (err: unknown) {
        counting = false;
        file.destroy();
        form.body.destroy();
        o.onBytes?.(-sent);
        throw err;
      }
    },
    o.retry,
    // The form names one key: posting it again stores the same bytes again.
    { idempotent: true, signal: o.signal, onRetry: (err, attempt, delay) => o.onRetry?.(what, err, attempt, delay) },
  );
  return o.api.completeUploadSession(session.id, o.signal);
}

// ---- multipart (presigned part URLs) --------------------------------------------------------------

/** Signs part URLs in batches, ahead of need; a part asked for `fresh` is signed again. */
class PartSigner {
  private readonly signed = new Map<number, Promise<SignedPart & { expiresAt: number }>>();

  constructor(
    private readonly api: KilnClient,
    private readonly id: string,
    /** The parts to send, in the order they will be asked for. */
    private readonly order: number[],
    private readonly batch: number,
    private readonly signal?: AbortSignal,
  ) {}

  async get(n: number, fresh = false): Promise<SignedPart> {
    const cached = fresh ? undefined : this.signed.get(n);
    if (cached) {
      const part = await cached.catch(() => undefined);
      // Still good for a while: use it (a PUT that starts just before expiry may still be refused: 403 → fresh).
      if (part && part.expiresAt * 1000 - Date.now() > 30_000) return part;
    }
    const numbers = [n, ...this.order.filter((m) => m !== n && !this.signed.has(m))].slice(0, this.batch);
    const answer = this.api.signParts(this.id, numbers, this.signal);
    for (const m of numbers) {
      const one = answer.then((r) => {
        const part = r.parts.find((p) => p.part_number === m);
        if (!part) throw new Error(`the server did not sign part ${m} of upload ${this.id}`);
        return { ...part, expiresAt: r.expires_at };
      });
      one.catch(() => undefined); // awaited by its own PUT later, or never (the upload stopped)
      this.signed.set(m, one);
    }
    return this.signed.get(n)!;
  }
}

/** MD5 (hex) of a byte range of a file, read as a stream. */
async function md5OfRange(path: string, range: ByteRange, signal?: AbortSignal): Promise<string> {
  const hash = createHash('md5');
  for await (const piece of createReadStream(path, {
    start: range.start,
    end: range.end,
    highWaterMark: 1024 * 1024,
    signal,
  }))
    hash.update(piece as Buffer);
  return hash.digest('hex');
}

/**
 * The part numbers S3 holds with the right size and, when its ETag is an MD5, the right bytes (the
 * file is read back from disk, no byte is sent); every other part is to be sent (again).
 */
export async function heldGoodParts(
  held: HeldPart[],
  partSize: number,
  size: number,
  path: string,
  parallel: number,
  signal?: AbortSignal,
): Promise<Set<number>> {
  const good = new Set<number>();
  const count = Math.ceil(size / partSize);
  const sized = held.filter(
    (p) =>
      p.part_number >= 1 && p.part_number <= count && p.size === rangeLength(partRange(p.part_number, partSize, size)),
  );
  await inPool(
    sized,
    Math.max(1, parallel),
    async (p, s) => {
      const md5 = etagMd5(p.etag);
      if (!md5 || md5 === (await md5OfRange(path, partRange(p.part_number, partSize, size), s)))
        good.add(p.part_number);
    },
    signal,
  );
  return good;
}

function missingPartsError(err: unknown): boolean {
  return err instanceof ApiError && err.status === 400 && err.details.some((d) => d.field === 'parts');
}

async function uploadParts(session: DirectUploadView, o: DirectUploadOptions): Promise<DirectUploadView> {
  let current = session;
  for (let round = 0; round < 3; round++) {
    const partSize = current.part_size;
    const count = current.part_count;
    if (!partSize || !count) throw new Error(`upload ${current.id}: the server gave no part size`);
    const good = await heldGoodParts(current.parts ?? [], partSize, current.size, o.path, o.parallel, o.signal);
    const missing: number[] = [];
    for (let n = 1; n <= count; n++) if (!good.has(n)) missing.push(n);
    if (round === 0) {
      let stored = 0;
      for (const n of good) stored += rangeLength(partRange(n, partSize, current.size));
      o.onStart?.(stored);
    }
    if (missing.length) {
      const signer = new PartSigner(o.api, current.id, missing, o.signBatch ?? 50, o.signal);
      const size = current.size;
      await inPool(
        missing,
        o.parallel,
        (n, signal) => sendPart(n, partRange(n, partSize, size), signer, o, signal),
        o.signal,
      );
    }
    try {
      return await o.api.completeUploadSession(current.id, o.signal);
    } catch (err: unknown) {
      // S3 lacks a part after all (e.g. one that was on the wire when an earlier run stopped): look again.
      if (!missingPartsError(err) || round === 2) throw err;
      current = await o.api.getUploadSession(current.id);
    }
  }
  throw new Error(`upload ${current.id} is still missing parts after sending every one`);
}

async function sendPart(
  n: number,
  range: ByteRange,
  signer: PartSigner,
  o: DirectUploadOptions,
  signal: AbortSignal,
): Promise<void> {
  const what = `part ${n} of ${o.name}`;
  await withRetry(
    async () => {
      let part = await signer.get(n);
      let res = await putPart(part, range, o, signal, what);
      if (res.status === 403) {
        // Most likely an expired URL: sign the part again and send it once more with the fresh one.
        await res.arrayBuffer().catch(() => undefined);
        part = await signer.get(n, true);
        res = await putPart(part, range, o, signal, what);
      }
      if (!res.ok) throw await s3Error(res, what);
    },
    o.retry,
    // Sending a part again replaces it with the same bytes.
    { idempotent: true, signal, onRetry: (err, attempt, delay) => o.onRetry?.(what, err, attempt, delay) },
  );
}

/**
 * One PUT of a part's bytes. Answers S3's response (a refusal is the caller's to judge); a failed
 * try's bytes are taken back from the progress. An ETag that is not the MD5 of the bytes sent is a
 * transfer that went wrong (retried).
 */
async function putPart(
  part: SignedPart,
  range: ByteRange,
  o: DirectUploadOptions,
  signal: AbortSignal,
  what: string,
): Promise<Response> {
  let sent = 0;
  let counting = true;
  const md5 = createHash('md5');
  const body = chunkBody(
    o.path,
    range,
    (n) => {
      if (!counting) return;
      sent += n;
      o.onBytes?.(n);
    },
    o.limiter,
    signal,
    (piece) => md5.update(piece),
  );
  try {
    const res = await s3Fetch(
      part.url,
      {
        method: part.method || 'PUT',
        headers: {
          // The signed headers as given (a second Content-Length in another case would be joined into "n, n").
          ...Object.fromEntries(
            Object.entries(part.headers ?? {}).filter(([k]) => k.toLowerCase() !== 'content-length'),
          ),
          'Content-Length': String(rangeLength(range)),
        },
        body,
        signal,
      },
      what,
    );
    if (!res.ok) {
      // A refusal: its bytes did not count; the caller reads S3's answer.
      counting = false;
      o.onBytes?.(-sent);
      body.destroy();
      return res;
    }
    await res.arrayBuffer();
    const expected = etagMd5(res.headers.get('etag'));
    const digest = md5.digest('hex');
    if (expected && sent === rangeLength(range) && expected !== digest) {
      throw new ApiError(502, 'etag_mismatch', `${what}: S3 stored bytes whose MD5 is ${expected}, sent ${digest}`);
    }
    return res;
  } catch (err: unknown) {
    if (counting) {
      counting = false;
      o.onBytes?.(-sent);
    }
    body.destroy();
    throw err;
  }
}
