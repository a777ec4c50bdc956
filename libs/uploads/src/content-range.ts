import { KilnError } from '@kiln/contracts';

export interface ChunkRange {
  start: number;
  /** Inclusive. */
  end: number;
  total: number;
  length: number;
}

const FORM = /^bytes (\d{1,16})-(\d{1,16})\/(\d{1,16})$/;

function unsatisfiable(reason: string, header: string | undefined): KilnError {
  return new KilnError('range_not_satisfiable', `Content-Range ${reason}.`, [
    { field: 'Content-Range', message: reason, value: header ?? null },
  ]);
}

/** Parses `Content-Range: bytes start-end/total` (end inclusive). Every malformed value is a 416 with its reason. */
export function parseContentRange(header: string | undefined): ChunkRange {
  if (header === undefined || header.trim() === '')
    throw unsatisfiable('is required for a chunk (bytes start-end/total)', header);
  const m = FORM.exec(header.trim());
  if (!m) {
    if (/\/\*$/.test(header.trim()))
      throw unsatisfiable('must state the total size (an unknown total "*" is not supported)', header);
    throw unsatisfiable('must look like "bytes start-end/total" with whole numbers', header);
  }
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (![start, end, total].every(Number.isSafeInteger)) throw unsatisfiable('has numbers too large', header);
  if (total === 0) throw unsatisfiable('total must be at least 1 byte', header);
  if (end < start) throw unsatisfiable('end is before start', header);
  if (end >= total) throw unsatisfiable(`end ${end} is beyond the total (the last byte is ${total - 1})`, header);
  return { start, end, total, length: end - start + 1 };
}

/**
 * An optional per-chunk digest: `Content-Digest: sha-256=:<base64>:` (RFC 9530) or
 * `X-Chunk-Sha256: <hex>`. Returns the hex SHA-256, or undefined when none is given.
 */
export function parseChunkDigest(
  contentDigest: string | undefined,
  xChunkSha256: string | undefined,
): string | undefined {
  if (xChunkSha256 !== undefined) {
    const v = xChunkSha256.trim().toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(v))
      throw new KilnError('invalid_input', 'X-Chunk-Sha256 must be 64 hex characters.', [
        { field: 'X-Chunk-Sha256', message: 'not a hex SHA-256' },
      ]);
    return v;
  }
  if (contentDigest === undefined) return undefined;
  for (const member of contentDigest.split(',')) {
    const m = /^\s*([A-Za-z0-9-]+)\s*=\s*:([A-Za-z0-9+/=]*):\s*$/.exec(member);
    if (!m) continue;
    if (m[1].toLowerCase() !== 'sha-256') continue;
    const bytes = Buffer.from(m[2], 'base64');
    if (bytes.length !== 32) break;
    return bytes.toString('hex');
  }
  throw new KilnError('invalid_input', 'Content-Digest must carry sha-256=:<base64 of 32 bytes>:.', [
    { field: 'Content-Digest', message: 'no valid sha-256 member' },
  ]);
}
