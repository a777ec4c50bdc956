import { coversExactly, firstMissingByte, gapsOf, mergeRanges } from './byte-ranges';

describe('byte ranges', () => {
  it('merges adjacent and overlapping ranges in any order', () => {
    expect(
      mergeRanges([
        { start: 10, end: 19 },
        { start: 0, end: 9 },
        { start: 30, end: 39 },
      ]),
    ).toEqual([
      [0, 19],
      [30, 39],
    ]);
    expect(mergeRanges([])).toEqual([]);
  });

  it('lists gaps and the first missing byte', () => {
    const r = [
      { start: 5, end: 9 },
      { start: 20, end: 29 },
    ];
    expect(gapsOf(r, 40)).toEqual([
      [0, 4],
      [10, 19],
      [30, 39],
    ]);
    expect(firstMissingByte(r, 40)).toBe(0);
    expect(firstMissingByte([{ start: 0, end: 39 }], 40)).toBe(40);
    expect(gapsOf([], 3)).toEqual([[0, 2]]);
    expect(gapsOf([], 0)).toEqual([]);
  });

  it('checks exact contiguous coverage', () => {
    expect(
      coversExactly(
        [
          { start: 0, end: 4 },
          { start: 5, end: 9 },
        ],
        10,
      ),
    ).toBe(true);
    expect(
      coversExactly(
        [
          { start: 0, end: 4 },
          { start: 6, end: 9 },
        ],
        10,
      ),
    ).toBe(false);
    expect(
      coversExactly(
        [
          { start: 0, end: 5 },
          { start: 5, end: 9 },
        ],
        10,
      ),
    ).toBe(false);
    expect(coversExactly([{ start: 0, end: 8 }], 10)).toBe(false);
  });
});
