// The bytes of a put as they pass: counted against the announced size and the caller's limit, hashed.
import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';

import { KilnError } from '@kiln/contracts';
import { relayed } from './relay-collection';

/** Counts, hashes and checks the bytes of a put as they pass. */
export class BodyMeter {
  bytes = 0;
  private readonly hash: Hash | undefined;
  /** The first `headLimit` bytes, copied as they pass (bounded: a file's kind is read from them). */
  private readonly headParts: Buffer[] = [];

  constructor(
    private readonly key: string,
    private readonly size: number | undefined,
    private readonly maxBytes: number | undefined,
    hashing: boolean,
    private readonly headLimit = 0,
  ) {
    this.hash = hashing ? createHash('sha256') : undefined;
  }

  take(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.maxBytes !== undefined && this.bytes > this.maxBytes) throw tooLarge(this.key, this.maxBytes);
    if (this.size !== undefined && this.bytes > this.size) throw sizeMismatch(this.key, this.size, 'more');
    this.hash?.update(chunk);
    relayed(chunk.length);
    const kept = this.bytes - chunk.length;
    if (kept < this.headLimit) this.headParts.push(Buffer.from(chunk.subarray(0, this.headLimit - kept)));
  }

  /** The first bytes kept (undefined when none were asked for). */
  head(): Buffer | undefined {
    return this.headLimit > 0 ? Buffer.concat(this.headParts) : undefined;
  }

  /** Hex SHA-256 of everything taken (undefined when not hashing); throws when fewer bytes came than announced. */
  finish(): string | undefined {
    if (this.size !== undefined && this.bytes !== this.size) throw sizeMismatch(this.key, this.size, 'fewer');
    return this.hash?.digest('hex');
  }
}

/**
 * The body's chunks as Buffers. Stopping early (error, limit) leaves the stream paused and unpiped,
 * not destroyed: it belongs to the caller.
 */
export async function* chunksOf(body: Readable): AsyncGenerator<Buffer> {
  const iterator = body.iterator({ destroyOnReturn: false }) as AsyncIterableIterator<unknown>;
  for await (const chunk of iterator) {
    const buffer = Buffer.isBuffer(chunk)
      ? chunk
      : typeof chunk === 'string'
        ? Buffer.from(chunk)
        : chunk instanceof Uint8Array
          ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
          : undefined;
    if (!buffer) throw new TypeError('put body must yield bytes');
    if (buffer.length) yield buffer;
  }
}

export function tooLarge(key: string, maxBytes: number): KilnError {
  return new KilnError('payload_too_large', `${key}: more than ${maxBytes} bytes`);
}

function sizeMismatch(key: string, size: number, what: 'more' | 'fewer'): KilnError {
  return new KilnError('invalid_input', `${key}: the body has ${what} bytes than the announced ${size}`);
}
