// An upload speed limit shared by every chunk in flight (--limit-rate).
import { abortableSleep } from '../api/retry';

/** Hands out send slots so that, over time, at most `bytesPerSecond` bytes go out. */
export class RateLimiter {
  private nextFreeMs = 0;

  constructor(
    readonly bytesPerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Reserves `bytes` and answers how long to wait (ms) before sending them. */
  reserve(bytes: number): number {
    const t = this.now();
    const start = Math.max(t, this.nextFreeMs);
    this.nextFreeMs = start + (bytes / this.bytesPerSecond) * 1000;
    return start - t;
  }

  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const wait = this.reserve(bytes);
    if (wait > 0) await abortableSleep(wait, signal);
  }
}
