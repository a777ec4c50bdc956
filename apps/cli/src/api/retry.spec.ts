import { ApiError, NetworkError } from './api-error';
import { DEFAULT_RETRY, isRetryable, parseRetryAfter, retryDelayMs, withRetry } from './retry';

describe('parseRetryAfter', () => {
  it('reads delta seconds and HTTP dates', () => {
    expect(parseRetryAfter('3', 0)).toBe(3000);
    const now = Date.parse('Tue, 24 Nov 2026 10:00:00 GMT');
    expect(parseRetryAfter('Tue, 24 Nov 2026 10:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Tue, 24 Nov 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(null, 0)).toBeUndefined();
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
  });
});

describe('isRetryable', () => {
  const api = (status: number) => new ApiError(status, 'x', 'm');
  it('retries 429 and 503 always, other 5xx and 408 only when idempotent, other 4xx never', () => {
    expect(isRetryable(api(429), false)).toBe(true);
    expect(isRetryable(api(503), false)).toBe(true);
    expect(isRetryable(api(500), false)).toBe(false);
    expect(isRetryable(api(500), true)).toBe(true);
    expect(isRetryable(api(408), true)).toBe(true);
    for (const s of [400, 401, 403, 404, 409, 413, 416, 422]) expect(isRetryable(api(s), true)).toBe(false);
  });

  it('retries network errors when idempotent, or when nothing reached the server', () => {
    expect(isRetryable(new NetworkError('reset', false), true)).toBe(true);
    expect(isRetryable(new NetworkError('reset', false), false)).toBe(false);
    expect(isRetryable(new NetworkError('refused', true), false)).toBe(true);
    expect(isRetryable(new Error('bug'), true)).toBe(false);
  });
});

describe('retryDelayMs', () => {
  it('backs off exponentially with jitter, capped', () => {
    const p = { ...DEFAULT_RETRY, baseMs: 100, maxMs: 1000 };
    expect(retryDelayMs(1, p, new NetworkError('x', true), () => 0)).toBe(50);
    expect(retryDelayMs(1, p, new NetworkError('x', true), () => 1)).toBe(100);
    expect(retryDelayMs(3, p, new NetworkError('x', true), () => 1)).toBe(400);
    expect(retryDelayMs(10, p, new NetworkError('x', true), () => 1)).toBe(1000);
  });

  it("honours the server's Retry-After, up to a bound", () => {
    const p = { ...DEFAULT_RETRY, maxRetryAfterMs: 10_000 };
    expect(retryDelayMs(1, p, new ApiError(429, 'rate_limited', 'slow down', [], undefined, 3000))).toBe(3000);
    expect(retryDelayMs(1, p, new ApiError(503, 'unavailable', 'later', [], undefined, 3_600_000))).toBe(10_000);
  });
});

describe('withRetry', () => {
  const policy = { attempts: 4, baseMs: 1, maxMs: 1, maxRetryAfterMs: 1 };
  const noSleep = async () => undefined;

  it('tries again until it works, within the bound', async () => {
    let calls = 0;
    const retried: number[] = [];
    const value = await withRetry(
      async () => {
        if (++calls < 3) throw new ApiError(503, 'unavailable', 'later');
        return 'ok';
      },
      policy,
      { idempotent: true, sleep: noSleep, onRetry: (_e, attempt) => retried.push(attempt) },
    );
    expect(value).toBe('ok');
    expect(retried).toEqual([1, 2]);
  });

  it('gives up after the last attempt with the last error', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new NetworkError(`try ${calls}`, false);
        },
        policy,
        { idempotent: true, sleep: noSleep },
      ),
    ).rejects.toThrow('try 4');
    expect(calls).toBe(4);
  });

  it('does not retry what is not retryable', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new ApiError(400, 'invalid_input', 'bad');
        },
        policy,
        { idempotent: true, sleep: noSleep },
      ),
    ).rejects.toThrow('bad');
    expect(calls).toBe(1);
  });

  it('stops at once when aborted', async () => {
    const stop = new AbortController();
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          stop.abort();
          throw new NetworkError('x', true);
        },
        policy,
        { idempotent: true, sleep: noSleep, signal: stop.signal },
      ),
    ).rejects.toThrow('x');
    expect(calls).toBe(1);
  });
});
