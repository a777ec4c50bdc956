import { randomBytes, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { KilnConfig } from '@kiln/config';
import { KilnError } from '@kiln/contracts';
import type { PrismaClient, Upload } from '@kiln/database';
import type { KilnMetrics } from '@kiln/observability';
import type { QueueProducer } from '@kiln/queue';
import { objectKeys, type ObjectStore } from '@kiln/storage';
import type { JobLifecycle } from '@kiln/workflow';
import { bodyLengthMismatch, differentBytes, digestMismatch, hashExactly } from './chunk-bytes';
import { matchesStoredChunk, sameStoredBytes } from './chunk-comparison';
import { checkChunkRange } from './chunk-range-check';
import {
  addReceived,
  lockedUpload,
  overlapError,
  overlaps,
  overlapsOf,
  receivedOf,
  recordChunk,
  recording,
  stateOf,
  touchesReceived,
  uploadState,
  type RecordedPiece,
  type ChunkResult,
  type StoredChunk,
  type Tx,
} from './chunk-records';
import { discardUnusedUpload, releaseUnusedMultipart, withdrawChunks } from './chunk-withdrawal';
import { parseChunkDigest, type ChunkRange } from './content-range';
import { partNumberFor } from './part-plan';
import type { UploadLocks } from './upload-lock';

export type { ChunkResult, RecordedPiece, StoredChunk } from './chunk-records';

/** A chunk request's headers as sent: the lengths and digests it is checked against. */
export interface ChunkHeaders {
  contentLength?: string;
  /** `Content-Digest: sha-256=:<base64>:` (RFC 9530). */
  contentDigest?: string;
  /** `X-Chunk-Sha256: <hex>`. */
  chunkSha256?: string;
}

/**
 * The chunk mechanics shared by the upload protocols (job upload with X-Upload-Id, upload
 * sessions, tus); it reads plain values and a byte stream, never an HTTP request. A chunk of at least 5 MiB (or the file's last) is stored as a part of the upload's
 * S3 multipart upload (see part-plan.ts), any other as its own object; then, under a per-upload lock in PostgreSQL
 * (any gateway replica, no sticky sessions), it is checked against the stored ranges and recorded.
 * Identical re-sends are accepted, different bytes for a stored range and partial overlaps are 409,
 * and the chunk that completes the file queues the assembly exactly once.
 *
 * A refused chunk leaves nothing stored: a chunk with a digest to check is always an object (a
 * part cannot be taken back once S3 has it, and would stay in the multipart upload), removed when
 * its bytes do not match; a part whose request fails takes back the multipart upload it started.
 */
export class ChunkStore {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly store: ObjectStore,
    private readonly config: Pick<KilnConfig, 'KILN_CHUNK_SIZE_MIN' | 'KILN_CHUNK_SIZE_MAX' | 'KILN_MAX_FILE_SIZE'>,
    private readonly producer: QueueProducer,
    private readonly lifecycle: JobLifecycle,
    private readonly metrics: KilnMetrics,
    private readonly locks: UploadLocks,
  ) {}

  get limits() {
    return {
      chunkSizeMin: this.config.KILN_CHUNK_SIZE_MIN,
      chunkSizeMax: this.config.KILN_CHUNK_SIZE_MAX,
      maxFileSize: this.config.KILN_MAX_FILE_SIZE,
    };
  }

  /** Checks a chunk's range against its upload before any byte is read. */
  checkRange(upload: Pick<Upload, 'size'>, range: ChunkRange, contentLength: string | undefined): void {
    checkChunkRange(this.limits, upload, range, contentLength);
  }

  /**
   * Stores one chunk: `body` carries exactly the bytes of `range`; `headers` are the request's
   * Content-Length and digests as sent (unparsed), checked here before any byte is read.
   */
  async writeChunk(
    upload: Upload,
    range: ChunkRange,
    body: Readable,
    headers: ChunkHeaders = {},
  ): Promise<ChunkResult> {
    this.checkRange(upload, range, headers.contentLength);
    const digest = parseChunkDigest(headers.contentDigest, headers.chunkSha256);
    // Bytes checked against a digest are compared before they are kept: an object, not a part.
    const partNumber = digest ? null : partNumberFor(Number(upload.size), range, upload.lengthDeferred);
    if (partNumber !== null) {
      // One request per part number at a time (any replica): S3 would let a second send of the
      // same part replace the first one's bytes before they could be compared.
      const lock = await this.locks.acquireWaiting(upload.id, `part-${partNumber}`, PART_LOCK_WAIT_MS);
      try {
        return await this.writePart(upload, range, partNumber, body);
      } finally {
        await lock.release();
      }
    }
    const resent = await this.resend(upload, range, digest, body);
    if (resent) return resent;

    const key = objectKeys.chunk(upload.id, range.start, range.end, randomBytes(4).toString('hex'));
    // No hashing on the hot path unless the client sent a digest to check: the server's ETag (MD5)
    // is what a re-sent chunk is compared with.
    const put = await this.metrics
      .trackUpload(() => this.store.put(key, body, { size: range.length, checksum: digest ? 'sha256' : 'none' }))
      .catch((err: unknown) => {
        throw bodyLengthMismatch(err, range);
      });
    this.metrics.uploadBytesReceived.inc({ kind: 'chunk' }, put.size);
    if (digest && digest !== put.sha256) {
      await this.store.remove(key);
      throw digestMismatch();
    }
    let recorded: { completed: boolean; upload: Upload };
    try {
      recorded = await recording(this.prisma, async (tx) => {
        const current = await lockedUpload(tx, upload.id);
        const now = await overlapsOf(tx, current, range);
        const twin = now.find((c) => Number(c.start) === range.start && Number(c.end) === range.end);
        if (twin) {
          if (!(await sameStoredBytes(this.store, twin, { ...put, objectKey: key }))) throw differentBytes(range);
          throw new AlreadyStored();
        }
        return recordChunk(tx, current, range, now, {
          sha256: put.sha256 ?? null,
          etag: put.etag ?? null,
          objectKey: key,
        });
      });
    } catch (err: unknown) {
      await this.store.remove(key).catch(() => undefined);
      if (err instanceof AlreadyStored) return this.state(upload.id, false);
      throw err;
    }
    if (recorded.completed) await this.queueAssembly(upload);
    return stateOf(recorded.upload, true);
  }

  /**
   * Before storing: a range partly overlapping a stored one is a 409; exactly a stored range is a
   * re-send, whose bytes are compared (hashed as they pass, nothing stored) and answered with the
   * upload's state; null when the bytes are new and the upload still takes them.
   */
  private async resend(
    upload: Upload,
    range: ChunkRange,
    digest: string | undefined,
    body: Readable,
  ): Promise<ChunkResult | null> {
    // The ranges on the upload as the caller read it: new bytes (the usual case) need no chunk rows
    // here; the transaction that records them checks again under the lock.
    const overlapping = await overlapsOf(this.prisma, upload, range);
    const same = overlapping.find((c) => Number(c.start) === range.start && Number(c.end) === range.end);
    if (overlapping.length && !same) throw overlapError(range, overlapping);
    if (same) {
      const seen = await this.metrics.trackUpload(() => hashExactly(body, range.length));
      this.metrics.uploadBytesReceived.inc({ kind: 'chunk' }, range.length);
      if (digest && digest !== seen.sha256) throw digestMismatch();
      if (!(await matchesStoredChunk(this.store, same, seen))) throw differentBytes(range);
      return this.state(upload.id, false);
    }
    if (upload.status !== 'uploading')
      throw new KilnError('conflict', `The upload is ${upload.status} and takes no new bytes.`);
    return null;
  }

  /**
   * writeChunk for a chunk stored as a multipart part; the caller holds the part number's lock. The
   * part's ETag (MD5, computed by the storage server) is what re-sends are compared with. When the
   * request fails before the part is recorded, a multipart upload it started is taken back.
   */
  private async writePart(loaded: Upload, range: ChunkRange, partNumber: number, body: Readable): Promise<ChunkResult> {
    // The row read again now that this request holds the part number: a request that stored this
    // part since the caller read it must be seen before S3 would take the bytes again (replacing
    // the stored part's).
    const upload = await this.prisma.upload.findUnique({ where: { id: loaded.id } });
    if (!upload) throw new KilnError('not_found', 'The upload no longer exists.');
    const resent = await this.resend(upload, range, undefined, body);
    if (resent) return resent;
    const multipart = await this.ensureMultipart(upload);
    let recorded: { completed: boolean; upload: Upload };
    try {
      const put = await this.metrics
        .trackUpload(() => this.store.putPart(multipart.key, multipart.id, partNumber, body, range.length))
        .catch((err: unknown) => {
          // The multipart upload was taken back by a refused part while this one was on its way.
          if (err instanceof KilnError && err.code === 'not_found') throw storageReset();
          throw bodyLengthMismatch(err, range);
        });
      this.metrics.uploadBytesReceived.inc({ kind: 'chunk' }, put.size);
      recorded = await recording(this.prisma, async (tx) => {
        const current = await lockedUpload(tx, upload.id);
        if (current.multipartId !== multipart.id) throw storageReset();
        const now = await overlapsOf(tx, current, range);
        return recordChunk(tx, current, range, now, {
          sha256: null,
          etag: put.etag,
          objectKey: null,
          partNumber,
        });
      });
    } catch (err: unknown) {
      if (multipart.started)
        await releaseUnusedMultipart(this.prisma, this.store, this.locks, upload.id, multipart, partNumber).catch(
          () => undefined,
        );
      throw err;
    }
    if (recorded.completed) await this.queueAssembly(upload);
    return stateOf(recorded.upload, true);
  }

  /**
   * The upload's multipart upload, started by the first chunk that needs it. Once per upload, under
   * a Redis lock rather than a database transaction: a burst of first chunks (50 at once) waits on
   * Redis without holding database connections while S3 answers.
   */
  async ensureMultipart(upload: Upload): Promise<{ id: string; key: string; started: boolean }> {
    if (upload.multipartId && upload.multipartKey)
      return { id: upload.multipartId, key: upload.multipartKey, started: false };
    const lock = await this.locks.acquireWaiting(upload.id, 'multipart', PART_LOCK_WAIT_MS);
    try {
      const current = await this.prisma.upload.findUnique({
        where: { id: upload.id },
        select: { multipartId: true, multipartKey: true },
      });
      if (!current) throw new KilnError('not_found', 'The upload no longer exists.');
      if (current.multipartId && current.multipartKey)
        return { id: current.multipartId, key: current.multipartKey, started: false };
      const key = objectKeys.upload(upload.id, upload.filename);
      const id = await this.store.createMultipart(key, { contentType: upload.contentType ?? undefined });
      lock.assertHeld();
      await this.prisma.upload.update({ where: { id: upload.id }, data: { multipartId: id, multipartKey: key } });
      return { id, key, started: true };
    } finally {
      await lock.release();
    }
  }

  /**
   * Records chunk objects that are already stored (the tus endpoint writes one PATCH as several
   * objects of bounded size), all in one transaction under the upload's lock: each range must be
   * new (no overlap with a stored one: 409) and the upload still `uploading`. With no chunks it only
   * checks whether every byte is in (a deferred length just declared). The chunk that completes the
   * file queues the assembly exactly as `writeChunk` does. On failure nothing is recorded; the
   * caller removes its objects.
   */
  async recordChunks(uploadId: string, chunks: readonly RecordedPiece[]): Promise<ChunkResult> {
    const recorded = await recording(this.prisma, async (tx) => {
      const current = await lockedUpload(tx, uploadId);
      if (current.status !== 'uploading')
        throw new KilnError('conflict', `The upload is ${current.status} and takes no new bytes.`);
      if (chunks.some((c) => c.partNumber !== undefined) && !current.multipartId) throw storageReset();
      const received = receivedOf(current);
      const taken: { start: number; end: number }[] = [];
      for (const c of chunks) {
        const range = { start: c.start, end: c.end };
        const mine = taken.filter((t) => t.start <= c.end && t.end >= c.start);
        const stored = touchesReceived(received, range) ? await overlaps(tx, uploadId, range) : [];
        if (mine.length || stored.length)
          throw overlapError(range, [...stored, ...mine.map((t) => ({ start: BigInt(t.start), end: BigInt(t.end) }))]);
        taken.push(range);
      }
      if (chunks.length)
        await tx.uploadChunk.createMany({
          data: chunks.map((c) => ({
            id: randomUUID(),
            uploadId,
            start: BigInt(c.start),
            end: BigInt(c.end),
            sha256: c.sha256 ?? null,
            etag: c.etag ?? null,
            objectKey: c.objectKey,
            partNumber: c.partNumber ?? null,
          })),
        });
      return addReceived(tx, current, taken);
    });
    if (recorded.completed) await this.queueAssembly(recorded.upload);
    return stateOf(recorded.upload, chunks.length > 0);
  }

  /** Queues the assembly (deterministic job id: a repeat is a no-op). */
  async queueAssembly(upload: Pick<Upload, 'id' | 'jobId'>): Promise<void> {
    if (upload.jobId) await this.lifecycle.markDownloading(upload.jobId);
    await this.producer.enqueue('assemble', { uploadId: upload.id });
  }

  async state(uploadId: string, stored: boolean): Promise<ChunkResult> {
    return uploadState(this.prisma, uploadId, stored);
  }

  /** Takes back chunks a refused request recorded (see withdrawChunks); returns the bytes. */
  withdrawChunks(uploadId: string, chunks: readonly StoredChunk[]): Promise<number> {
    return withdrawChunks(this.prisma, this.store, uploadId, chunks);
  }

  /**
   * Removes an upload its opening request could not use (refused), if no byte of it is recorded;
   * `restore` undoes, in the same transaction, what opening it changed (see discardUnusedUpload).
   */
  discardUnused(uploadId: string, restore: (tx: Tx) => Promise<void>): Promise<boolean> {
    return discardUnusedUpload(this.prisma, this.store, uploadId, restore);
  }

  /** Deletes an upload's chunk objects, its multipart upload (the parts) and its rows (abort, expiry). */
  async discard(uploadId: string): Promise<void> {
    const upload = await this.prisma.upload.findUnique({
      where: { id: uploadId },
      select: { multipartId: true, multipartKey: true },
    });
    if (upload?.multipartId && upload.multipartKey)
      await this.store.abortMultipart(upload.multipartKey, upload.multipartId);
    await this.store.removePrefix(objectKeys.uploadChunks(uploadId));
    await this.prisma.upload.deleteMany({ where: { id: uploadId } });
  }
}

class AlreadyStored extends Error {}

/** A part sent into a multipart upload that a refused part took back meanwhile: send it again. */
const storageReset = () =>
  new KilnError(
    'conflict',
    'The upload’s storage was reset by a refused chunk while this one was on its way; send it again.',
    [{ field: 'Content-Range', message: 'send again' }],
    { 'Retry-After': '1' },
  );

/** How long a chunk waits for another request sending the same part number to end. */
const PART_LOCK_WAIT_MS = 30_000;
