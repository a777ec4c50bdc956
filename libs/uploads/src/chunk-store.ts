import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { KilnConfig } from '@kiln/config';
import { KilnError } from '@kiln/contracts';
import type { Prisma, PrismaClient, Upload, UploadChunk } from '@kiln/database';
import type { KilnMetrics } from '@kiln/observability';
import type { QueueProducer } from '@kiln/queue';
import { objectKeys, type ObjectStore } from '@kiln/storage';
import type { JobLifecycle } from '@kiln/workflow';
import { firstMissingByte, mergeRanges } from './byte-ranges';
import { MD5_ETAG, differentBytes, digestMismatch, hashExactly, sha256Passing } from './chunk-bytes';
import { parseChunkDigest, type ChunkRange } from './content-range';
import { partNumberFor } from './part-plan';
import type { UploadLocks } from './upload-lock';

export interface ChunkResult {
  upload: Upload;
  /** Whether this chunk's bytes were new (false: an identical re-send). */
  stored: boolean;
  /** Every byte is present now (assembly queued or done). */
  complete: boolean;
  received: [number, number][];
  receivedBytes: number;
  offset: number;
}

type Tx = Prisma.TransactionClient;

/** A chunk request's headers as sent: the lengths and digests it is checked against. */
export interface ChunkHeaders {
  contentLength?: string;
  /** `Content-Digest: sha-256=:<base64>:` (RFC 9530). */
  contentDigest?: string;
  /** `X-Chunk-Sha256: <hex>`. */
  chunkSha256?: string;
}

/** A chunk object already written to storage, waiting to be recorded (`recordChunks`). */
export interface StoredChunk {
  start: number;
  /** Inclusive. */
  end: number;
  objectKey: string;
  etag?: string;
  sha256?: string;
}

/**
 * The chunk mechanics shared by the upload protocols (job upload with X-Upload-Id, upload
 * sessions, tus); it reads plain values and a byte stream, never an HTTP request. A chunk of at least 5 MiB (or the file's last) is stored as a part of the upload's
 * S3 multipart upload (see part-plan.ts), any other as its own object; then, under a per-upload lock in PostgreSQL
 * (any gateway replica, no sticky sessions), it is checked against the stored ranges and recorded.
 * Identical re-sends are accepted, different bytes for a stored range and partial overlaps are 409,
 * and the chunk that completes the file queues the assembly exactly once.
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
    const size = Number(upload.size);
    if (range.total !== size) {
      throw new KilnError(
        'range_not_satisfiable',
        `Content-Range total ${range.total} differs from the upload's size ${size}.`,
        [{ field: 'Content-Range', message: `total must be ${size}` }],
      );
    }
    if (range.length > this.config.KILN_CHUNK_SIZE_MAX) {
      throw new KilnError(
        'payload_too_large',
        `The chunk has ${range.length} bytes; chunk_size_max is ${this.config.KILN_CHUNK_SIZE_MAX}.`,
        [{ field: 'Content-Range', message: `at most ${this.config.KILN_CHUNK_SIZE_MAX} bytes per chunk` }],
      );
    }
    if (range.end !== size - 1 && range.length < this.config.KILN_CHUNK_SIZE_MIN) {
      throw new KilnError(
        'range_not_satisfiable',
        `The chunk has ${range.length} bytes; every chunk but the last needs at least chunk_size_min (${this.config.KILN_CHUNK_SIZE_MIN}).`,
        [
          {
            field: 'Content-Range',
            message: `at least ${this.config.KILN_CHUNK_SIZE_MIN} bytes unless it is the last chunk`,
          },
        ],
      );
    }
    const declared = contentLength;
    if (declared !== undefined && Number(declared) !== range.length) {
      throw new KilnError(
        'invalid_input',
        `Content-Length ${declared} differs from the ${range.length} bytes of the Content-Range.`,
        [{ field: 'Content-Length', message: `must be ${range.length}` }],
      );
    }
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
    const partNumber = partNumberFor(Number(upload.size), range, upload.lengthDeferred);
    if (partNumber !== null) {
      // One request per part number at a time (any replica): S3 would let a second send of the
      // same part replace the first one's bytes before they could be compared.
      const lock = await this.locks.acquireWaiting(upload.id, `part-${partNumber}`, PART_LOCK_WAIT_MS);
      try {
        return await this.writePart(upload, range, partNumber, digest, body);
      } finally {
        await lock.release();
      }
    }
    const resent = await this.resend(upload, range, digest, body);
    if (resent) return resent;

    const key = objectKeys.chunk(upload.id, range.start, range.end, randomBytes(4).toString('hex'));
    // No hashing on the hot path unless the client sent a digest to check: the server's ETag (MD5)
    // is what a re-sent chunk is compared with.
    const put = await this.metrics.trackUpload(() =>
      this.store.put(key, body, { size: range.length, checksum: digest ? 'sha256' : 'none' }),
    );
    this.metrics.uploadBytesReceived.inc({ kind: 'chunk' }, put.size);
    if (digest && digest !== put.sha256) {
      await this.store.remove(key);
      throw digestMismatch();
    }
    let completedNow = false;
    try {
      completedNow = await this.recording(async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`upload:${upload.id}`}, 0))`;
        const current = await tx.upload.findUnique({ where: { id: upload.id } });
        if (!current) throw new KilnError('not_found', 'The upload no longer exists.');
        const now = await this.overlaps(tx, upload.id, range);
        const twin = now.find((c) => Number(c.start) === range.start && Number(c.end) === range.end);
        if (twin) {
          if (!(await this.sameStoredBytes(twin, { ...put, objectKey: key }))) throw differentBytes(range);
          throw new AlreadyStored();
        }
        if (now.length) throw this.overlapError(range, now);
        if (current.status !== 'uploading')
          throw new KilnError('conflict', `The upload is ${current.status} and takes no new bytes.`);
        await tx.uploadChunk.create({
          data: {
            id: randomUUID(),
            uploadId: upload.id,
            start: BigInt(range.start),
            end: BigInt(range.end),
            sha256: put.sha256 ?? null,
            etag: put.etag ?? null,
            objectKey: key,
          },
        });
        return this.addReceived(tx, current, BigInt(range.length));
      });
    } catch (err: unknown) {
      await this.store.remove(key).catch(() => undefined);
      if (err instanceof AlreadyStored) return this.state(upload.id, false);
      throw err;
    }
    if (completedNow) await this.queueAssembly(upload);
    return this.state(upload.id, true);
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
    const overlapping = await this.overlaps(this.prisma, upload.id, range);
    const same = overlapping.find((c) => Number(c.start) === range.start && Number(c.end) === range.end);
    if (overlapping.length && !same) throw this.overlapError(range, overlapping);
    if (same) {
      const seen = await this.metrics.trackUpload(() => hashExactly(body, range.length));
      this.metrics.uploadBytesReceived.inc({ kind: 'chunk' }, range.length);
      if (digest && digest !== seen.sha256) throw digestMismatch();
      if (!(await this.matches(same, seen))) throw differentBytes(range);
      return this.state(upload.id, false);
    }
    if (upload.status !== 'uploading')
      throw new KilnError('conflict', `The upload is ${upload.status} and takes no new bytes.`);
    return null;
  }

  /** writeChunk for a chunk stored as a multipart part; the caller holds the part number's lock. */
  private async writePart(
    upload: Upload,
    range: ChunkRange,
    partNumber: number,
    digest: string | undefined,
    body: Readable,
  ): Promise<ChunkResult> {
    const resent = await this.resend(upload, range, digest, body);
    if (resent) return resent;
    const multipart = await this.ensureMultipart(upload);
    // A digest to check means hashing the bytes on their way; otherwise nothing is hashed here:
    // the part's ETag (MD5, computed by the storage server) is what re-sends are compared with.
    const hashed = digest ? sha256Passing() : null;
    const bytes = hashed ? body.pipe(hashed.stream) : body;
    if (hashed) body.once('error', (err) => hashed.stream.destroy(err));
    const put = await this.metrics.trackUpload(() =>
      this.store.putPart(multipart.key, multipart.id, partNumber, bytes, range.length),
    );
    this.metrics.uploadBytesReceived.inc({ kind: 'chunk' }, put.size);
    const sha256 = hashed?.digest();
    // A part with the wrong bytes is simply not recorded: completing the upload lists only recorded parts.
    if (digest && digest !== sha256) throw digestMismatch();
    const completedNow = await this.recording(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`upload:${upload.id}`}, 0))`;
      const current = await tx.upload.findUnique({ where: { id: upload.id } });
      if (!current) throw new KilnError('not_found', 'The upload no longer exists.');
      const now = await this.overlaps(tx, upload.id, range);
      if (now.length) throw this.overlapError(range, now);
      if (current.status !== 'uploading')
        throw new KilnError('conflict', `The upload is ${current.status} and takes no new bytes.`);
      await tx.uploadChunk.create({
        data: {
          id: randomUUID(),
          uploadId: upload.id,
          start: BigInt(range.start),
          end: BigInt(range.end),
          sha256: sha256 ?? null,
          etag: put.etag,
          objectKey: null,
          partNumber,
        },
      });
      return this.addReceived(tx, current, BigInt(range.length));
    });
    if (completedNow) await this.queueAssembly(upload);
    return this.state(upload.id, true);
  }

  /**
   * The upload's multipart upload, started by the first chunk that needs it. Once per upload, under
   * a Redis lock rather than a database transaction: a burst of first chunks (50 at once) waits on
   * Redis without holding database connections while S3 answers.
   */
  private async ensureMultipart(upload: Upload): Promise<{ id: string; key: string }> {
    if (upload.multipartId && upload.multipartKey) return { id: upload.multipartId, key: upload.multipartKey };
    const lock = await this.locks.acquireWaiting(upload.id, 'multipart', PART_LOCK_WAIT_MS);
    try {
      const current = await this.prisma.upload.findUnique({
        where: { id: upload.id },
        select: { multipartId: true, multipartKey: true },
      });
      if (!current) throw new KilnError('not_found', 'The upload no longer exists.');
      if (current.multipartId && current.multipartKey) return { id: current.multipartId, key: current.multipartKey };
      const key = objectKeys.upload(upload.id, upload.filename);
      const id = await this.store.createMultipart(key, { contentType: upload.contentType ?? undefined });
      lock.assertHeld();
      await this.prisma.upload.update({ where: { id: upload.id }, data: { multipartId: id, multipartKey: key } });
      return { id, key };
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
  async recordChunks(uploadId: string, chunks: readonly StoredChunk[]): Promise<ChunkResult> {
    const completedNow = await this.recording(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`upload:${uploadId}`}, 0))`;
      const current = await tx.upload.findUnique({ where: { id: uploadId } });
      if (!current) throw new KilnError('not_found', 'The upload no longer exists.');
      if (current.status !== 'uploading')
        throw new KilnError('conflict', `The upload is ${current.status} and takes no new bytes.`);
      let bytes = 0n;
      for (const c of chunks) {
        const range: ChunkRange = {
          start: c.start,
          end: c.end,
          total: Number(current.size),
          length: c.end - c.start + 1,
        };
        const now = await this.overlaps(tx, uploadId, range);
        if (now.length) throw this.overlapError(range, now);
        await tx.uploadChunk.create({
          data: {
            id: randomUUID(),
            uploadId,
            start: BigInt(c.start),
            end: BigInt(c.end),
            sha256: c.sha256 ?? null,
            etag: c.etag ?? null,
            objectKey: c.objectKey,
          },
        });
        bytes += BigInt(range.length);
      }
      return this.addReceived(tx, current, bytes);
    });
    if (completedNow) {
      const upload = await this.prisma.upload.findUniqueOrThrow({ where: { id: uploadId } });
      await this.queueAssembly(upload);
    }
    return this.state(uploadId, chunks.length > 0);
  }

  /** Counts new bytes; the ones that complete the file mark it complete and its input assembling. */
  private async addReceived(tx: Tx, current: Upload, bytes: bigint): Promise<boolean> {
    const received = (current.receivedBytes ?? 0n) + bytes;
    const complete = !current.lengthDeferred && received === current.size;
    await tx.upload.update({
      where: { id: current.id },
      data: { receivedBytes: received, ...(complete ? { status: 'complete' } : {}) },
    });
    if (complete && current.inputId) {
      await tx.input.updateMany({
        where: { id: current.inputId, status: { in: ['pending', 'uploading'] } },
        data: { status: 'assembling' },
      });
    }
    return complete;
  }

  /**
   * The short transaction that records a chunk under the upload's advisory lock. Chunks of one
   * upload queue on that lock, so a burst (50 chunks finishing at once) waits longer than Prisma's
   * default 2 s for a connection; past this wait the answer is 503 with Retry-After, not a 500.
   */
  private recording<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.prisma.$transaction(work, { maxWait: RECORD_TX_WAIT_MS, timeout: RECORD_TX_WAIT_MS });
  }

  /** Queues the assembly (deterministic job id: a repeat is a no-op). */
  async queueAssembly(upload: Pick<Upload, 'id' | 'jobId'>): Promise<void> {
    if (upload.jobId) await this.lifecycle.markDownloading(upload.jobId);
    await this.producer.enqueue('assemble', { uploadId: upload.id });
  }

  async state(uploadId: string, stored: boolean): Promise<ChunkResult> {
    const upload = await this.prisma.upload.findUniqueOrThrow({ where: { id: uploadId } });
    const chunks = await this.prisma.uploadChunk.findMany({ where: { uploadId }, select: { start: true, end: true } });
    const ranges = chunks.map((c) => ({ start: Number(c.start), end: Number(c.end) }));
    const size = Number(upload.size);
    return {
      upload,
      stored,
      complete: upload.status === 'complete',
      received: mergeRanges(ranges),
      receivedBytes: Number(upload.receivedBytes),
      offset: upload.status === 'complete' ? size : firstMissingByte(ranges, size),
    };
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

  /** Whether re-sent bytes (their hashes) equal a stored chunk. */
  private async matches(stored: UploadChunk, seen: { sha256: string; md5: string }): Promise<boolean> {
    if (stored.sha256) return stored.sha256 === seen.sha256;
    if (stored.etag && MD5_ETAG.test(stored.etag)) return stored.etag === seen.md5;
    if (!stored.objectKey) return false; // a part always has its MD5 ETag; no other way to read it back
    return (await this.sha256Of(stored.objectKey)) === seen.sha256;
  }

  /** Whether two stored objects for one range hold the same bytes (two concurrent identical sends). */
  private async sameStoredBytes(
    a: Pick<UploadChunk, 'sha256' | 'etag' | 'objectKey'>,
    b: { sha256?: string; etag?: string; objectKey: string },
  ): Promise<boolean> {
    if (a.sha256 && b.sha256) return a.sha256 === b.sha256;
    if (a.etag && b.etag && MD5_ETAG.test(a.etag) && MD5_ETAG.test(b.etag)) return a.etag === b.etag;
    if (!a.objectKey) return false;
    return (await this.sha256Of(a.objectKey)) === (await this.sha256Of(b.objectKey));
  }

  private async sha256Of(key: string): Promise<string> {
    const hash = createHash('sha256');
    for await (const c of await this.store.get(key)) hash.update(c as Buffer);
    return hash.digest('hex');
  }

  private overlaps(db: Tx | PrismaClient, uploadId: string, range: ChunkRange): Promise<UploadChunk[]> {
    return db.uploadChunk.findMany({
      where: { uploadId, start: { lte: BigInt(range.end) }, end: { gte: BigInt(range.start) } },
    });
  }

  private overlapError(range: ChunkRange, stored: UploadChunk[]): KilnError {
    const ranges = stored.map((c) => `${c.start}-${c.end}`).join(', ');
    return new KilnError(
      'conflict',
      `Bytes ${range.start}-${range.end} partly overlap stored range(s) ${ranges}; send exactly a stored range again or a range that does not overlap.`,
      [{ field: 'Content-Range', message: `overlaps ${ranges}` }],
    );
  }
}

class AlreadyStored extends Error {}

/** How long recording a chunk may wait for a database connection, and run. */
const RECORD_TX_WAIT_MS = 15_000;

/** How long a chunk waits for another request sending the same part number to end. */
const PART_LOCK_WAIT_MS = 30_000;
