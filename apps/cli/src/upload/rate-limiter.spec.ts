import { RateLimiter } from './rate-limiter';

describe('RateLimiter', () => {
  it('spaces reservations so that bytes go out at the given rate', () => {
    let t = 0;
    const limiter = new RateLimiter(1000, () => t); // 1000 B/s
    expect(limiter.reserve(500)).toBe(0); // the first goes at once
    expect(limiter.reserve(500)).toBe(500); // then 500 ms later
    expect(limiter.reserve(1000)).toBe(1000);
    t = 5000; // idle time is not saved up as a burst
    expect(limiter.reserve(100)).toBe(0);
    expect(limiter.reserve(100)).toBeCloseTo(100);
  });

  it('is shared: chunks in parallel split the rate', () => {
    const t = 0;
    const limiter = new RateLimiter(2000, () => t);
    const waits = [limiter.reserve(1000), limiter.reserve(1000), limiter.reserve(1000), limiter.reserve(1000)];
    expect(waits).toEqual([0, 500, 1000, 1500]);
  });
});
