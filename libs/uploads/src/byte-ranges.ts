/** Inclusive byte ranges, as in `Content-Range: bytes start-end/total`. */
export interface ByteRange {
  start: number;
  end: number;
}

/** Sorted, merged (adjacent and overlapping joined) ranges: what a client has delivered. */
export function mergeRanges(ranges: readonly ByteRange[]): [number, number][] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const out: [number, number][] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last[1] + 1) last[1] = Math.max(last[1], r.end);
    else out.push([r.start, r.end]);
  }
  return out;
}

/** The missing ranges of a file of `size` bytes. */
export function gapsOf(ranges: readonly ByteRange[], size: number): [number, number][] {
  const gaps: [number, number][] = [];
  let next = 0;
  for (const [s, e] of mergeRanges(ranges)) {
    if (s > next) gaps.push([next, s - 1]);
    next = Math.max(next, e + 1);
  }
  if (next < size) gaps.push([next, size - 1]);
  return gaps;
}

/** The first byte not yet received (where a sequential client resumes); `size` when complete. */
export function firstMissingByte(ranges: readonly ByteRange[], size: number): number {
  const gaps = gapsOf(ranges, size);
  return gaps.length ? gaps[0][0] : size;
}

/** True when the ranges, in order, cover [0, size) exactly once with no gap and no overlap. */
export function coversExactly(sortedRanges: readonly ByteRange[], size: number): boolean {
  let next = 0;
  for (const r of sortedRanges) {
    if (r.start !== next || r.end < r.start) return false;
    next = r.end + 1;
  }
  return next === size;
}
