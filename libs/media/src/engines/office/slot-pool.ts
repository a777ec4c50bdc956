/**
 * The slots of the office engine: one per parallel conversion, each with its own LibreOffice
 * profile and resident office. A conversion takes a free slot and gives it back when done; with
 * none free it waits its turn (first come, first served), so two conversions never share a profile.
 */
export class SlotPool<T> {
  private readonly free: T[];
  private readonly waiting: ((slot: T) => void)[] = [];

  constructor(readonly slots: readonly T[]) {
    this.free = [...slots];
  }

  /** A free slot; rejects when `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<T> {
    const slot = this.free.shift();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiting.indexOf(take);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal?.reason);
      };
      const take = (s: T) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(s);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(take);
    });
  }

  release(slot: T): void {
    const next = this.waiting.shift();
    if (next) next(slot);
    else this.free.push(slot);
  }
}
