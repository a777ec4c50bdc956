import { chunkSizeFor, missingRanges, planChunks, rangeLength } from './range-plan';

const KiB = 1024;
const limits = { min: 64 * KiB, max: 64 * 1024 * KiB };

/** Every byte of 0..size-1 not in `received` is covered exactly once by `plan`. */
function coversGapsExactly(size: number, received: [number, number][], plan: { start: number; end: number }[]) {
  const seen = new Uint8Array(size);
  for (const [s, e] of received) seen.fill(1, s, e + 1);
  for (const r of plan) {
    for (let i = r.start; i <= r.end; i++) {
      if (seen[i]) throw new Error(`byte ${i} planned twice or already stored`);
      seen[i] = 1;
    }
  }
  return seen.every((b) => b === 1);
}

describe('missingRanges', () => {
  it('is the whole file when nothing is stored', () => {
    expect(missingRanges(100, [])).toEqual([{ start: 0, end: 99 }]);
  });

  it('finds the holes between stored ranges, in any order, overlapping or not', () => {
    expect(
      missingRanges(100, [
        [50, 59],
        [0, 9],
        [5, 19],
      ]),
    ).toEqual([
      { start: 20, end: 49 },
      { start: 60, end: 99 },
    ]);
  });

  it('is empty when everything is stored', () => {
    expect(missingRanges(100, [[0, 99]])).toEqual([]);
  });
});

describe('chunkSizeFor', () => {
  it('is 8 MiB by default, kept within the server limits', () => {
    expect(chunkSizeFor(undefined, limits)).toBe(8 * 1024 * KiB);
    expect(chunkSizeFor(1, limits)).toBe(limits.min);
    expect(chunkSizeFor(1024 * 1024 * KiB, limits)).toBe(limits.max);
  });
});

describe('planChunks', () => {
  it('cuts a fresh file into chunk-size pieces; only the last is shorter', () => {
    const plan = planChunks(10 * KiB * 100, [], 300 * KiB, limits);
    expect(plan.map(rangeLength)).toEqual([300 * KiB, 300 * KiB, 300 * KiB, 100 * KiB]);
    expect(plan[0].start).toBe(0);
    expect(plan[plan.length - 1].end).toBe(1000 * KiB - 1);
  });

  it('a resumed upload (same chunk size) plans exactly the chunks the first run had not stored', () => {
    const C = 100 * KiB;
    const size = 10 * C + 7;
    const first = planChunks(size, [], C, limits);
    const stored = [first[0], first[3], first[4], first[10]].map((r): [number, number] => [r.start, r.end]);
    const again = planChunks(size, stored, C, limits);
    expect(again).toEqual(first.filter((_, i) => ![0, 3, 4, 10].includes(i)));
  });

  it('never leaves a piece under chunk_size_min inside the file: a short tail joins the piece before it', () => {
    const size = 1000 * KiB;
    // stored from 250 KiB on, so the gap 0..250 KiB-1 does not end the file
    const plan = planChunks(size, [[250 * KiB, size - 1]], 100 * KiB, limits);
    expect(plan.map(rangeLength)).toEqual([100 * KiB, 150 * KiB]);
    expect(coversGapsExactly(size, [[250 * KiB, size - 1]], plan)).toBe(true);
  });

  it('splits the joined tail evenly when it would pass chunk_size_max', () => {
    const tight = { min: 64 * KiB, max: 100 * KiB };
    const plan = planChunks(1000 * KiB, [[230 * KiB, 1000 * KiB - 1]], 100 * KiB, tight);
    expect(plan.every((r) => rangeLength(r) >= tight.min && rangeLength(r) <= tight.max)).toBe(true);
    expect(plan.map(rangeLength)).toEqual([100 * KiB, 65 * KiB, 65 * KiB]);
  });

  it('a short last piece is fine when it ends the file', () => {
    expect(planChunks(100 * KiB + 1, [], 100 * KiB, limits).map(rangeLength)).toEqual([100 * KiB, 1]);
  });

  it('covers every missing byte exactly once for scattered stored ranges', () => {
    const size = 3_000_000;
    const received: [number, number][] = [
      [0, 65_535],
      [500_000, 899_999],
      [1_000_000, 1_065_535],
      [2_999_000, 2_999_999],
    ];
    const plan = planChunks(size, received, 256 * KiB, limits);
    expect(coversGapsExactly(size, received, plan)).toBe(true);
    for (const r of plan)
      if (r.end !== size - 1 && rangeLength(r) < limits.min) throw new Error(`short chunk ${r.start}-${r.end}`);
  });

  it('plans nothing for a complete file', () => {
    expect(planChunks(5, [[0, 4]], 100, limits)).toEqual([]);
  });
});
