import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { KilnError } from '@kiln/contracts';
import type { Upload } from '@kiln/database';
import type { KilnMetrics } from '@kiln/observability';
import { S3_MIN_PART_SIZE, objectKeys, type ObjectStore } from '@kiln/storage';
import { splitBody } from './body-segments';
import type { ChunkStore, StoredChunk } from './chunk-store';
import { partNumberFor } from './part-plan';
import type { HeldUploadLock } from './upload-lock';

export interface AppendOptions {
  /** Largest chunk object one segment of the body becomes (at most two are in memory). */
  segmentSize: number;
  /** The body may carry at most this many bytes (more: payload_too_large, the excess not stored). */
  maxBytes: number;
  /** A digest of the whole body: nothing is recorded unless the body matches it. */
  checksum?: { algorithm: string; digest: Buffer };
  /** The upload's lock, held by the caller: every store and record checks it still holds. */
  lock: HeldUploadLock;
  /**
   * The upload (its size and multipart upload): given, a segment of at least 5 MiB (or the one
   * that ends the file) goes straight into the upload's S3 multipart upload as a part (see
   * part-plan.ts) instead of a chunk object. Not with a checksum (a part cannot be taken back).
   */
  asParts?: {
    upload: Upload;
    /**
     * The upload holds chunk objects already: a piece under 5 MiB that ends the file stays an object
     * too (as a part it would only make a mix of parts and objects, assembled by reading both back).
     */
    holdsObjects: boolean;
  };
}

export interface AppendResult {
  /** Body bytes read. */
  bytes: number;
  /** Set when the body broke off: without a checksum the bytes that arrived are recorded, with one none. */
  interrupted?: unknown;
  /** The body did not match `checksum`: nothing of it was recorded. */
  checksumMismatch?: true;
}

/**
 * Writes a body at an upload's offset as chunk objects of bounded size, as it arrives (the tus
 * PATCH). Without a checksum each segment is recorded once stored, so an interrupted body keeps
 * what arrived; with one, nothing is recorded until the whole body matched it, and on a mismatch,
 * a break-off or a failure the stored objects are removed. A body refused for going past
 * `maxBytes` keeps nothing either way: the segments recorded before the excess are taken back.
 */
export class SegmentedWriter {
  constructor(
    private readonly store: ObjectStore,
    private readonly chunks: ChunkStore,
    private readonly metrics: KilnMetrics,
  ) {}

  /**
   * Writes a body of known length (`size`, its Content-Length) at `offset` as ONE part of the
   * upload's S3 multipart upload, streamed as it arrives (nothing buffered; the tus PATCH of a client
   * that sends chunks of 5 MiB or more). The caller checked the room and that the part may be a part
   * (at least 5 MiB, or the bytes that end the file). A body that breaks off stores and records
   * nothing (S3 refuses a part shorter than signed): `interrupted` is set and the offset stays.
   * null, with nothing read: the file is too large for the part plan (over 10,000 parts of 5 MiB).
   */
  async appendPart(
    upload: Upload,
    offset: number,
    body: Readable,
    size: number,
    lock: HeldUploadLock,
  ): Promise<AppendResult | null> {
    const start = offset;
    const end = offset + size - 1;
    const partNumber = partNumberFor(Number(upload.size), { start, end }, upload.lengthDeferred);
    if (partNumber === null) return null;
    const multipart = await this.chunks.ensureMultipart(upload);
    lock.assertHeld();
    let put: { etag: string; size: number };
    try {
      put = await this.metrics.trackUpload(() =>
        this.store.putPart(multipart.key, multipart.id, partNumber, body, size),
      );
    } catch (err: unknown) {
      if (body.destroyed || body.readableAborted) return { bytes: 0, interrupted: err };
      throw err;
    }
    this.metrics.uploadBytesReceived.inc({ kind: 'chunk' }, put.size);
    lock.assertHeld();
    await this.chunks.recordChunks(upload.id, [{ start, end, objectKey: null, etag: put.etag, partNumber }]);
    return { bytes: put.size };
  }

  async append(
    uploadId: string,
    offset: number,
    body: AsyncIterable<unknown>,
    options: AppendOptions,
  ): Promise<AppendResult> {
    const { checksum, lock } = options;
    const hash = checksum ? createHash(checksum.algorithm) : undefined;
    const held: StoredChunk[] = [];
    let objects = options.asParts?.holdsObjects ?? true;
    const recorded: StoredChunk[] = [];
    try {
      const split = await this.metrics.trackUpload(() =>
        splitBody(
          body,
          { segmentSize: options.segmentSize, maxBytes: options.maxBytes, hash, keepPartial: !checksum },
          async (segment) => {
            lock.assertHeld();
            const start = offset + segment.start;
            const end = start + segment.length - 1;
            const upload = checksum ? undefined : options.asParts?.upload;
            const partNumber =
              upload && (segment.length >= S3_MIN_PART_SIZE || !objects)
                ? partNumberFor(Number(upload.size), { start, end }, upload.lengthDeferred)
                : null;
            let chunk: StoredChunk;
            if (upload && partNumber !== null) {
              const multipart = await this.chunks.ensureMultipart(upload);
              lock.assertHeld();
              const put = await this.store.putPart(
                multipart.key,
                multipart.id,
                partNumber,
                Readable.from(segment.parts),
                segment.length,
              );
              chunk = { start, end, objectKey: null, etag: put.etag, partNumber };
            } else {
              objects = true;
              const key = objectKeys.chunk(uploadId, start, end, randomBytes(4).toString('hex'));
              const put = await this.store.put(key, Readable.from(segment.parts), {
                size: segment.length,
                checksum: 'none',
              });
              chunk = { start, end, objectKey: key, ...(put.etag ? { etag: put.etag } : {}) };
            }
            this.metrics.uploadBytesReceived.inc({ kind: 'chunk' }, segment.length);
            if (checksum) return void held.push(chunk);
            try {
              lock.assertHeld();
              await this.chunks.recordChunks(uploadId, [chunk]);
              recorded.push(chunk);
            } catch (err: unknown) {
              // A part not recorded stays out of the completion (the assembler lists only recorded parts).
              if (chunk.objectKey) await this.store.remove(chunk.objectKey).catch(() => undefined);
              throw err;
            }
          },
        ),
      );
      if (checksum && !split.interrupted) {
        if (!hash!.digest().equals(checksum.digest)) return { ...split, checksumMismatch: true };
        lock.assertHeld();
        await this.chunks.recordChunks(uploadId, held);
        held.length = 0;
      }
      return split;
    } catch (err: unknown) {
      // The body is refused (more bytes than the upload has room for): what it stored goes too.
      if (err instanceof KilnError && err.code === 'payload_too_large' && recorded.length)
        await this.chunks.withdrawChunks(uploadId, recorded);
      throw err;
    } finally {
      // Objects of a body with a checksum that were not recorded: mismatch, break-off, failure.
      await Promise.all(
        held.map((c) => (c.objectKey ? this.store.remove(c.objectKey).catch(() => undefined) : undefined)),
      );
    }
  }
}
