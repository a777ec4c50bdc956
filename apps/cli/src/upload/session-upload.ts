// Sends the bytes an upload session is missing: chunks with Content-Range, a few in parallel,
// each retried with backoff; a resumed session sends only the ranges the server does not have.
import pLimit from 'p-limit';
import type { KilnClient } from '../api/kiln-client';
import type { UploadView } from '../api/types';
import { withRetry, type RetryPolicy } from '../api/retry';
import { chunkBody } from './chunk-body';
import { chunkSizeFor, planChunks, type ByteRange } from './range-plan';
import type { RateLimiter } from './rate-limiter';

export interface SessionUploadOptions {
  api: KilnClient;
  path: string;
  chunkSize?: number;
  parallel: number;
  retry: RetryPolicy;
  limiter?: RateLimiter;
  signal?: AbortSignal;
  /** Bytes sent (negative when a failed try's bytes are taken back). */
  onBytes?: (n: number) => void;
  onRetry?: (range: ByteRange, err: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Runs `work` over `items` with at most `n` at once (p-limit); the first failure aborts the ones in
 * flight, starts no more, and is thrown once the running ones have settled.
 */
export async function inPool<T>(
  items: T[],
  n: number,
  work: (item: T, signal: AbortSignal) => Promise<void>,
  outer?: AbortSignal,
): Promise<void> {
  const stop = new AbortController();
  const signal = outer ? AbortSignal.any([outer, stop.signal]) : stop.signal;
  const limit = pLimit(n);
  let failure: { err: unknown } | undefined;
  await Promise.all(
    items.map((item) =>
      limit(async () => {
        if (failure) return;
        try {
          await work(item, signal);
        } catch (err: unknown) {
          if (!failure) failure = { err };
          stop.abort(err);
        }
      }),
    ),
  );
  if (failure) throw failure.err;
}

/** Sends every missing byte of `session` and answers the session once it is complete. */
export async function uploadMissing(session: UploadView, o: SessionUploadOptions): Promise<UploadView> {
  let current = session;
  for (let round = 0; round < 3 && current.status === 'uploading'; round++) {
    const limits = { min: current.chunk_size_min, max: current.chunk_size_max };
    // The document types `received` as number[][] (pairs by minItems/maxItems): read each as [start, end].
    const received = current.received.map(([start, end]) => [start, end] as const);
    const plan = planChunks(current.size, received, chunkSizeFor(o.chunkSize, limits), limits);
    if (!plan.length) {
      // Every byte is stored but the session still says uploading: ask for the finish explicitly.
      current = await o.api.completeUpload(current.id);
      continue;
    }
    let finished: UploadView | undefined;
    await inPool(
      plan,
      o.parallel,
      async (range, signal) => {
        const answer = await withRetry(
          async () => {
            // This try's bytes count until it fails. A piece the body was still reading (or pacing)
            // when the failure came is handed over after it: it must not be counted, or the
            // retry's bytes would come on top of it.
            let sent = 0;
            let counting = true;
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
            );
            try {
              return await o.api.putChunk(current.id, range, current.size, body, signal);
            } catch (err: unknown) {
              counting = false;
              body.destroy();
              o.onBytes?.(-sent);
              throw err;
            }
          },
          o.retry,
          { idempotent: true, signal, onRetry: (err, attempt, delay) => o.onRetry?.(range, err, attempt, delay) },
        );
        // A re-sent range the server already had was not counted by it; sent bytes stay counted here.
        if (answer.status !== 'uploading') finished = answer;
      },
      o.signal,
    );
    current = finished ?? (await o.api.getUpload(current.id));
  }
  if (current.status === 'uploading') {
    throw new Error(
      `upload ${current.id} is still missing bytes after sending every range (${current.received_bytes} of ${current.size} stored)`,
    );
  }
  return current;
}
