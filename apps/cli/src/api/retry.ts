// Bounded retries with exponential backoff and jitter; the server's Retry-After wins when given.
import { ApiError, NetworkError } from './api-error';

export { parseRetryAfter } from '../retry-after';

export interface RetryPolicy {
  /** Tries in all (1 = no retry). */
  attempts: number;
  baseMs: number;
  maxMs: number;
  /** Longest Retry-After honoured. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseMs: 500, maxMs: 15_000, maxRetryAfterMs: 60_000 };

/**
 * Whether a failure may be retried. Network errors and 408/5xx only when the request is idempotent
 * (a POST might have been applied); 429 and 503 (nothing was done) and a connection that never
 * opened, always.
 */
export function isRetryable(err: unknown, idempotent: boolean): boolean {
  if (err instanceof NetworkError) return idempotent || err.beforeRequest;
  if (err instanceof ApiError) {
    if (err.status === 429 || err.status === 503) return true;
    return idempotent && (err.status === 408 || err.status >= 500);
  }
  return false;
}

/** The wait before retry number `attempt` (1-based): Retry-After if the server sent one, else backoff with jitter. */
export function retryDelayMs(
  attempt: number,
  policy: RetryPolicy,
  err: unknown,
  random: () => number = Math.random,
): number {
  if (err instanceof ApiError && err.retryAfterMs !== undefined)
    return Math.min(err.retryAfterMs, policy.maxRetryAfterMs);
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  return Math.round(exp / 2 + (exp / 2) * random());
}

export interface RetryHooks {
  signal?: AbortSignal;
  idempotent: boolean;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export async function withRetry<T>(
  work: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  hooks: RetryHooks,
): Promise<T> {
  const sleep = hooks.sleep ?? abortableSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (err: unknown) {
      if (hooks.signal?.aborted || attempt >= policy.attempts || !isRetryable(err, hooks.idempotent)) throw err;
      const delay = retryDelayMs(attempt, policy, err);
      hooks.onRetry?.(err, attempt, delay);
      await sleep(delay, hooks.signal);
    }
  }
}
