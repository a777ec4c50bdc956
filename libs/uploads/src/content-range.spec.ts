import { createHash } from 'node:crypto';
import { KilnError } from '@kiln/contracts';
import { parseChunkDigest, parseContentRange } from './content-range';

function reasonOf(fn: () => unknown): { status: number; code: string; message: string } {
  try {
    fn();
  } catch (err: unknown) {
    if (err instanceof KilnError) return { status: err.status, code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected an error');
}

describe('parseContentRange', () => {
  it('parses a valid range (end inclusive)', () => {
    expect(parseContentRange('bytes 0-99/1000')).toEqual({ start: 0, end: 99, total: 1000, length: 100 });
    expect(parseContentRange('bytes 999-999/1000')).toEqual({ start: 999, end: 999, total: 1000, length: 1 });
  });

  it.each([
    [undefined, /required/],
    ['', /required/],
    ['0-99/1000', /bytes start-end\/total/],
    ['bytes=0-99/1000', /bytes start-end\/total/],
    ['bytes 0-99', /bytes start-end\/total/],
    ['bytes 0-99/*', /unknown total/],
    ['bytes */1000', /bytes start-end\/total/],
    ['bytes -5-99/1000', /bytes start-end\/total/],
    ['bytes 1.5-99/1000', /bytes start-end\/total/],
    ['bytes a-b/c', /bytes start-end\/total/],
    ['bytes 100-99/1000', /end is before start/],
    ['bytes 0-1000/1000', /beyond the total/],
    ['bytes 0-0/0', /at least 1 byte/],
    ['bytes 0-99999999999999999/99999999999999999', /too large|bytes start-end/],
  ])('416 for %p with a reason', (header, reason) => {
    const e = reasonOf(() => parseContentRange(header as string | undefined));
    expect(e.status).toBe(416);
    expect(e.code).toBe('range_not_satisfiable');
    expect(e.message).toMatch(reason);
  });
});

describe('parseChunkDigest', () => {
  const data = Buffer.from('hello chunk');
  const hex = createHash('sha256').update(data).digest('hex');
  const b64 = createHash('sha256').update(data).digest('base64');

  it('reads RFC 9530 Content-Digest and X-Chunk-Sha256', () => {
    expect(parseChunkDigest(`sha-256=:${b64}:`, undefined)).toBe(hex);
    expect(parseChunkDigest(`sha-512=:AAAA:, sha-256=:${b64}:`, undefined)).toBe(hex);
    expect(parseChunkDigest(undefined, hex.toUpperCase())).toBe(hex);
    expect(parseChunkDigest(undefined, undefined)).toBeUndefined();
  });

  it('rejects malformed digests as invalid_input', () => {
    expect(reasonOf(() => parseChunkDigest('sha-256=:abc:', undefined)).code).toBe('invalid_input');
    expect(reasonOf(() => parseChunkDigest('md5=:abc:', undefined)).code).toBe('invalid_input');
    expect(reasonOf(() => parseChunkDigest(undefined, 'xyz')).code).toBe('invalid_input');
  });
});
