import { MAX_PARTS_FILE_SIZE, partNumberFor } from './part-plan';

const MiB = 1024 * 1024;

describe('partNumberFor', () => {
  it('numbers chunks of 5 MiB and more, and the last chunk, by position', () => {
    const size = 100 * MiB + 123;
    const starts = [0, 16 * MiB, 32 * MiB, 48 * MiB, 64 * MiB, 80 * MiB, 96 * MiB];
    const numbers = starts.map((s, i) =>
      partNumberFor(size, { start: s, end: i === starts.length - 1 ? size - 1 : s + 16 * MiB - 1 }),
    );
    expect(numbers.every((n) => n !== null)).toBe(true);
    expect([...numbers].sort((a, b) => a! - b!)).toEqual(numbers); // rising with position
    expect(new Set(numbers).size).toBe(numbers.length);
    expect(numbers[0]).toBe(1);
    expect(Math.max(...(numbers as number[]))).toBeLessThanOrEqual(10_000);
  });

  it('keeps small chunks (not the last) as objects', () => {
    expect(partNumberFor(100 * MiB, { start: 0, end: 5 * MiB - 2 })).toBeNull();
    expect(partNumberFor(100 * MiB, { start: 0, end: 5 * MiB - 1 })).toBe(1);
    expect(partNumberFor(100 * MiB, { start: 99 * MiB, end: 100 * MiB - 1 })).not.toBeNull(); // the last, 1 MiB
    expect(partNumberFor(10, { start: 0, end: 9 })).toBe(1); // a whole small file in one chunk
  });

  it('no parts for deferred lengths, huge files, or chunks over 5 GiB', () => {
    expect(partNumberFor(100 * MiB, { start: 0, end: 16 * MiB - 1 }, true)).toBeNull();
    expect(partNumberFor(MAX_PARTS_FILE_SIZE + 1, { start: 0, end: 16 * MiB - 1 })).toBeNull();
    expect(partNumberFor(20 * 1024 ** 3, { start: 0, end: 5 * 1024 ** 3 })).toBeNull();
  });

  it('gives distinct, rising numbers to any non-overlapping chunks of ≥ 5 MiB, at the largest size', () => {
    const size = MAX_PARTS_FILE_SIZE;
    let start = 0;
    let last = 0;
    // Irregular chunk sizes, all ≥ 5 MiB: every number must exceed the previous one.
    for (let i = 0; start < size; i++) {
      const len = Math.min(5 * MiB + ((i * 7919) % (3 * MiB)), size - start);
      const n = partNumberFor(size, { start, end: start + len - 1 });
      expect(n).not.toBeNull();
      expect(n!).toBeGreaterThan(last);
      last = n!;
      start += len;
    }
    expect(last).toBeLessThanOrEqual(10_000);
  });
});
