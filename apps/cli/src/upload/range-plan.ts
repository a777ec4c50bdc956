// Which bytes of a file still have to go to an upload session, cut into chunks the server accepts.

/** Inclusive byte range. */
export interface ByteRange {
  start: number;
  end: number;
}

export const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;

/** The chunk size to use: the wish (default 8 MiB) kept within the session's chunk_size_min..max. */
export function chunkSizeFor(wanted: number | undefined, limits: { min: number; max: number }): number {
  return Math.max(limits.min, Math.min(limits.max, wanted ?? DEFAULT_CHUNK_SIZE));
}

/** The gaps of `received` (merged or not, inclusive ends) within 0..size-1. */
export function missingRanges(size: number, received: readonly (readonly [number, number])[]): ByteRange[] {
  const sorted = [...received].filter(([s, e]) => e >= s).sort((a, b) => a[0] - b[0]);
  const gaps: ByteRange[] = [];
  let next = 0;
  for (const [s, e] of sorted) {
    if (s > next) gaps.push({ start: next, end: Math.min(s, size) - 1 });
    next = Math.max(next, e + 1);
    if (next >= size) break;
  }
  if (next < size) gaps.push({ start: next, end: size - 1 });
  return gaps.filter((g) => g.end >= g.start);
}

/**
 * The chunks to send: every gap cut into `chunkSize` pieces from its start (so a resumed upload cuts
 * the same pieces as the first run). A piece may be shorter than chunk_size_min only when it ends the
 * file; a short tail inside the file joins the piece before it (or the two share the bytes evenly when
 * together they would pass chunk_size_max). Pieces never overlap stored ranges: the server refuses
 * partial overlaps.
 */
export function planChunks(
  size: number,
  received: readonly (readonly [number, number])[],
  chunkSize: number,
  limits: { min: number; max: number },
): ByteRange[] {
  const plan: ByteRange[] = [];
  for (const gap of missingRanges(size, received)) {
    const pieces: ByteRange[] = [];
    for (let s = gap.start; s <= gap.end; s += chunkSize)
      pieces.push({ start: s, end: Math.min(gap.end, s + chunkSize - 1) });
    const last = pieces[pieces.length - 1];
    const length = (r: ByteRange) => r.end - r.start + 1;
    if (pieces.length > 1 && last.end !== size - 1 && length(last) < limits.min) {
      const before = pieces[pieces.length - 2];
      const joined = length(before) + length(last);
      pieces.pop();
      if (joined <= limits.max) {
        before.end = last.end;
      } else {
        const half = Math.ceil(joined / 2);
        before.end = before.start + half - 1;
        pieces.push({ start: before.end + 1, end: last.end });
      }
    }
    plan.push(...pieces);
  }
  return plan;
}

export const rangeLength = (r: ByteRange): number => r.end - r.start + 1;
