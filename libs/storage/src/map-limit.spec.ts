import { mapLimit } from './map-limit';

/** A call that ends when the test says so. */
function gatedCalls() {
  const running = new Set<number>();
  const started: number[] = [];
  const release = new Map<number, (fail?: Error) => void>();
  let peak = 0;
  const fn = (item: number) =>
    new Promise<number>((resolve, reject) => {
      started.push(item);
      running.add(item);
      peak = Math.max(peak, running.size);
      release.set(item, (fail) => {
        running.delete(item);
        if (fail) reject(fail);
        else resolve(item * 10);
      });
    });
  const until = async (check: () => boolean) => {
    while (!check()) await new Promise((r) => setImmediate(r));
  };
  return { fn, started, release, until, peak: () => peak };
}

describe('mapLimit', () => {
  it('keeps the order of results and never runs more than the limit at once', async () => {
    const g = gatedCalls();
    const all = mapLimit([1, 2, 3, 4, 5], 2, g.fn);
    for (const item of [1, 2, 3, 4, 5]) {
      await g.until(() => g.release.has(item));
      g.release.get(item)!();
    }
    expect(await all).toEqual([10, 20, 30, 40, 50]);
    expect(g.peak()).toBe(2);
  });

  it('starts nothing after a failure and throws it once the running calls settle', async () => {
    const g = gatedCalls();
    const all = mapLimit([1, 2, 3, 4], 2, g.fn);
    await g.until(() => g.release.has(1) && g.release.has(2));
    g.release.get(1)!(new Error('part 1 failed'));
    let settled = false;
    void all.catch(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false); // call 2 is still running
    g.release.get(2)!();
    await expect(all).rejects.toThrow('part 1 failed');
    expect(g.started).toEqual([1, 2]);
  });
});
