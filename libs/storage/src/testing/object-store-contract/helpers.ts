// What the parts of the ObjectStore contract share (object-store.contract.ts composes them): sizes and
// timeouts, digests, streams shaped like a socket's, and checks on bytes and KilnErrors.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { KilnError, type ErrorCode } from '@kiln/contracts';
import type { ObjectStore } from '../../object-store';

export const MiB = 1024 * 1024;
export const TIMEOUT = 60_000;

/** What a runner of the contract provides. */
export interface ObjectStoreHarness {
  store: ObjectStore;
  cleanup(): Promise<void>;
  /** Starts a multipart upload of `key` and leaves it incomplete, as a writer that crashed would. */
  createIncompleteUpload(key: string): Promise<void>;
}

/** What every part of the contract is given: the store under test, a key maker under this run's prefix, and the harness. */
export interface ContractSuite {
  store: ObjectStore;
  k(key: string): string;
  harness: Pick<ObjectStoreHarness, 'createIncompleteUpload'>;
}

/**
 * An ObjectStore that forwards every call to `current()`: the parts of the contract hold it while the
 * suite is being defined, before beforeAll has made the real one.
 */
export function lateStore(current: () => ObjectStore): ObjectStore {
  return new Proxy({} as ObjectStore, {
    get(_target, property) {
      const store = current();
      const value = Reflect.get(store, property, store);
      return typeof value === 'function' ? value.bind(store) : value;
    },
  });
}

export function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A readable over `data` in chunks of `chunkSize` bytes (not one big chunk, like a socket). */
export function streamOf(data: Buffer, chunkSize = 64 * 1024): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length; at += chunkSize) chunks.push(data.subarray(at, at + chunkSize));
  return chunkStream(chunks);
}

/** A readable yielding `chunks`, then failing with `error` when given. */
export function chunkStream(chunks: Buffer[], error?: Error): Readable {
  return Readable.from(
    (async function* () {
      for (const chunk of chunks) yield chunk;
      if (error) throw error;
    })(),
    { objectMode: false },
  );
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** Compares by length and digest: Jest's toEqual walks a Buffer byte by byte (seconds per MiB). */
export function expectBytes(actual: Buffer, expected: Buffer): void {
  expect({ length: actual.length, sha256: sha256(actual) }).toEqual({
    length: expected.length,
    sha256: sha256(expected),
  });
}

export async function expectKilnError(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(KilnError);
  expect((error as KilnError).code).toBe(code);
}
