// The body of one chunk: a range of the file read as a stream, counted (progress) and paced (limit).
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { ByteRange } from './range-plan';
import type { RateLimiter } from './rate-limiter';

export function chunkBody(
  path: string,
  range: ByteRange,
  onBytes: (n: number) => void,
  limiter?: RateLimiter,
  signal?: AbortSignal,
  /** Sees every piece as it goes (e.g. a hash of the bytes sent). */
  tap?: (piece: Buffer) => void,
): Readable {
  const file = createReadStream(path, { start: range.start, end: range.end, highWaterMark: 64 * 1024 });
  async function* paced() {
    try {
      for await (const piece of file) {
        const buf = piece as Buffer;
        if (limiter) await limiter.take(buf.length, signal);
        onBytes(buf.length);
        tap?.(buf);
        yield buf;
      }
    } finally {
      file.destroy();
    }
  }
  return Readable.from(paced(), { objectMode: false });
}
