// The bytes of a chunk on their way in: hashed as they pass or counted exactly, and the errors a
// chunk whose bytes do not match gets.
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { KilnError } from '@kiln/contracts';
import type { ChunkRange } from './content-range';

/** A pass-through that hashes what flows (SHA-256), read once the stream has ended. */
export function sha256Passing(): { stream: Transform; digest: () => string } {
  const hash = createHash('sha256');
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

export const MD5_ETAG = /^[0-9a-f]{32}$/;

export const digestMismatch = () =>
  new KilnError(
    'unprocessable',
    'The chunk does not match its digest (Content-Digest / X-Chunk-Sha256); it was discarded.',
    [{ field: 'Content-Digest', message: 'sha-256 mismatch' }],
  );

export const differentBytes = (range: ChunkRange) =>
  new KilnError('conflict', `Bytes ${range.start}-${range.end} differ from the bytes already stored for that range.`, [
    { field: 'Content-Range', message: 'different bytes for a stored range' },
  ]);

/**
 * A storage write refused for its length (the store's invalid_input: the body had more or fewer
 * bytes than announced) as the client's error: the chunk's body and its Content-Range disagree.
 * Any other error is returned as it is.
 */
export function bodyLengthMismatch(err: unknown, range: ChunkRange): unknown {
  if (!(err instanceof KilnError) || err.code !== 'invalid_input') return err;
  return new KilnError(
    'invalid_input',
    `The body does not have the ${range.length} bytes of its Content-Range (bytes ${range.start}-${range.end}); nothing of it was kept.`,
    [{ field: 'body', message: `must be ${range.length} bytes` }],
  );
}

/** SHA-256 and MD5 of exactly `length` bytes of a stream (more or fewer is an error); nothing is kept. */
export async function hashExactly(body: Readable, length: number): Promise<{ sha256: string; md5: string }> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  let seen = 0;
  for await (const chunk of body) {
    seen += (chunk as Buffer).length;
    if (seen > length)
      throw new KilnError('invalid_input', `The body is longer than the ${length} bytes of its Content-Range.`, [
        { field: 'body', message: 'too long' },
      ]);
    sha.update(chunk as Buffer);
    md5.update(chunk as Buffer);
  }
  if (seen !== length)
    throw new KilnError('invalid_input', `The body has ${seen} bytes; its Content-Range says ${length}.`, [
      { field: 'body', message: 'too short' },
    ]);
  return { sha256: sha.digest('hex'), md5: md5.digest('hex') };
}
