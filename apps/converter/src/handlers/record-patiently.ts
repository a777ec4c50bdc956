/**
 * Runs `record` (a database write that must not be lost: a finished conversion's file, a callback
 * that was sent) until it answers, retrying what it throws with backoff (250 ms doubling to 5 s)
 * for up to `patienceMs`. A database outage during the write then costs a wait, not the work: the
 * conversion is not redone and the callback is not sent again.
 */
export async function recordPatiently<T>(
  record: () => Promise<T>,
  patienceMs: number,
  onRetry: (err: unknown) => void,
  signal?: AbortSignal,
): Promise<T> {
  const deadline = Date.now() + patienceMs;
  for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
    try {
      return await record();
    } catch (err: unknown) {
      if (Date.now() + delay > deadline || signal?.aborted) throw err;
      onRetry(err);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** How long a finished conversion or a sent callback waits for the database to record it. */
export const RECORD_PATIENCE_MS = 120_000;
