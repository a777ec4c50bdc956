import type { Hash } from 'node:crypto';
import { KilnError } from '@kiln/contracts';

/** A run of consecutive body bytes, at most `segmentSize` long, held as the pieces that arrived. */
export interface BodySegment {
  /** Position of the segment's first byte in the body. */
  start: number;
  length: number;
  parts: Buffer[];
}

export interface SplitOptions {
  /** Largest segment; every segment but the last has exactly this many bytes. */
  segmentSize: number;
  /** The body may carry at most this many bytes; more is payload_too_large (the excess is not stored). */
  maxBytes: number;
  /** Every byte of the body passes through it (Upload-Checksum). */
  hash?: Hash;
  /** When the body breaks off, hand the bytes that did arrive to `store` as a last, shorter segment. */
  keepPartial: boolean;
}

export interface SplitResult {
  /** Body bytes read (all of them handed to `store`, unless interrupted without keepPartial). */
  bytes: number;
  /** Set when the body broke off (the client went away): the error the stream ended with. */
  interrupted?: unknown;
}

/**
 * Cuts a request body into segments of bounded size as it arrives and hands each to `store`, one
 * at a time and in order. While a segment is being stored the next one fills, so at most two
 * segments are held in memory: reading waits when the next one is full too. A failed `store` stops
 * the reading and is thrown (segments after it are never stored, so what is stored stays
 * contiguous). A segment that reaches `maxBytes` is handed over only once the body has ended: a
 * body that goes on past it is refused before its last allowed byte is stored (the caller takes
 * back the segments stored before). The body iterator must not destroy its stream on return (the
 * answer still goes out on that connection).
 */
export async function splitBody(
  body: AsyncIterable<unknown>,
  options: SplitOptions,
  store: (segment: BodySegment) => Promise<void>,
): Promise<SplitResult> {
  const { segmentSize, maxBytes } = options;
  if (!Number.isSafeInteger(segmentSize) || segmentSize < 1)
    throw new RangeError(`segmentSize must be a positive integer (got ${segmentSize})`);
  let failure: { error: unknown } | undefined;
  let storing: Promise<void> | undefined;
  let parts: Buffer[] = [];
  let filled = 0;
  let start = 0;
  let total = 0;
  let tooLarge = false;
  let interrupted: { error: unknown } | undefined;

  const handOver = async (): Promise<void> => {
    const segment: BodySegment = { start, length: filled, parts };
    start += filled;
    parts = [];
    filled = 0;
    if (storing) await storing;
    if (failure) return;
    storing = store(segment).catch((error: unknown) => {
      failure ??= { error };
    });
  };

  try {
    for await (const raw of body) {
      let chunk = toBuffer(raw);
      if (total + chunk.length > maxBytes) {
        tooLarge = true;
        break;
      }
      options.hash?.update(chunk);
      total += chunk.length;
      while (chunk.length) {
        const piece = chunk.length <= segmentSize - filled ? chunk : chunk.subarray(0, segmentSize - filled);
        parts.push(piece);
        filled += piece.length;
        chunk = chunk.subarray(piece.length);
        if (filled === segmentSize && start + filled < maxBytes) await handOver();
      }
      if (failure) break;
    }
  } catch (error: unknown) {
    interrupted = { error };
  }
  if (storing) await storing;
  if (failure) throw failure.error;
  if (tooLarge) {
    throw new KilnError(
      'payload_too_large',
      `The body carries more than the ${maxBytes} bytes the upload has room for.`,
      [{ field: 'body', message: `at most ${maxBytes} bytes` }],
    );
  }
  if (filled && (!interrupted || options.keepPartial)) {
    await store({ start, length: filled, parts });
  }
  return interrupted ? { bytes: total, interrupted: interrupted.error } : { bytes: total };
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk);
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('the body must yield bytes');
}
