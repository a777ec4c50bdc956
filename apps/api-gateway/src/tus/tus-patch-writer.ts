import type { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KilnError } from '@kiln/contracts';
import { PRISMA, type PrismaClient } from '@kiln/database';
import { LOGGER, type Logger } from '@kiln/observability';
import { ChunkStore, SegmentedWriter, type AppendResult, type ChunkResult, type HeldUploadLock } from '@kiln/uploads';
import { KeyQuotas } from '../limits/key-quotas.service';
import {
  checksumMismatch,
  contiguousOffset,
  offsetMismatch,
  parseByteCount,
  type TusUploadState,
  type UploadChecksum,
} from './tus-protocol';

const MiB = 1024 * 1024;
/**
 * Largest chunk object one PATCH segment becomes (at most two segments of a PATCH are in memory).
 * At least 5 MiB keeps server-side assembly possible; KILN_CHUNK_SIZE_MAX lowers it.
 */
export const TUS_SEGMENT_MAX = 8 * MiB;

/**
 * PATCH writing: the bytes at Upload-Offset become stored chunk objects, checked against the
 * recorded offset, the upload's length (declared late with creation-defer-length), the room left
 * under the file size limit and the storage quota, and the whole body's Upload-Checksum. The caller
 * holds the upload's lock.
 */
@Injectable()
export class TusPatchWriter {
  private readonly segmentSize: number;

  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly chunks: ChunkStore,
    private readonly writer: SegmentedWriter,
    private readonly quotas: KeyQuotas,
  ) {
    this.segmentSize = Math.max(1, Math.min(config.KILN_CHUNK_SIZE_MAX, TUS_SEGMENT_MAX));
  }

  /** Writes one PATCH body (or a creation's body at offset 0) and answers the upload's state after it. */
  async write(
    id: string,
    offset: number,
    checksum: UploadChecksum | undefined,
    declaredLength: number | undefined,
    contentLength: string | undefined,
    body: Readable,
    lock: HeldUploadLock,
  ): Promise<TusUploadState> {
    let result = await this.chunks.state(id, false);
    const current = tusState(result).offset;
    const declared = parseByteCount('Content-Length', contentLength);
    if (result.upload.status !== 'uploading') {
      // Every byte is in already: an empty PATCH at the end is answered, anything else refused.
      if (offset === current && declared === 0) return tusState(result);
      throw new KilnError('conflict', `The upload is ${result.upload.status} and takes no new bytes.`, [
        { field: 'Upload-Offset', message: `upload is ${result.upload.status}`, offset: current },
      ]);
    }
    if (offset !== current) throw offsetMismatch(offset, current);
    // creation-defer-length: a length declared by this PATCH is checked first and kept only if the
    // PATCH is: a refused one leaves the length undeclared.
    const declaring = result.upload.lengthDeferred ? declaredLength : undefined;
    if (declaring !== undefined) this.checkDeclaredLength(declaring, current);
    else if (declaredLength !== undefined && declaredLength !== Number(result.upload.size)) {
      throw new KilnError(
        'invalid_input',
        `Upload-Length ${declaredLength} differs from the upload's length ${result.upload.size}; it cannot change.`,
        [{ field: 'Upload-Length', message: `must be ${result.upload.size}` }],
      );
    }
    const deferred = result.upload.lengthDeferred && declaring === undefined;
    let room = (deferred ? this.config.KILN_MAX_FILE_SIZE : (declaring ?? Number(result.upload.size))) - offset;
    // A length not declared yet counts 0 in the storage quota: its bytes so far count instead.
    const quota = deferred
      ? await this.quotas.storageRoom(result.upload.ownerKeyHash, offset, 'Upload-Offset')
      : undefined;
    const quotaLeft = quota ? quota.room - offset : Infinity;
    if (declared !== undefined && declared > quotaLeft && quotaLeft < room)
      throw this.quotas.quotaError(quota!.used + offset, declared, 'Content-Length', quota!.quota);
    const cutByQuota = quotaLeft < room;
    room = Math.min(room, quotaLeft);
    if (declared !== undefined && declared > room) throw tooLarge(declared, room, 'Content-Length');
    if (declaring !== undefined) result = await this.declareLength(id, declaring, current);
    if (declared === 0 || result.upload.status !== 'uploading') return tusState(result);

    const upload = result.upload;
    if (
      declared !== undefined &&
      !checksum &&
      !upload.lengthDeferred &&
      declared >= S3_PART_MIN &&
      declared <= this.config.KILN_CHUNK_SIZE_MAX
    ) {
      // A body of known length from 5 MiB to KILN_CHUNK_SIZE_MAX is streamed straight into one S3 part
      // (no segment buffered): the usual shape of tus-js-client's chunked PATCHes. Broken off, it keeps
      // nothing (at most KILN_CHUNK_SIZE_MAX to send again); smaller and larger bodies go by segments.
      const part = await this.writer.appendPart(upload, offset, body, declared, lock);
      if (part?.interrupted) {
        this.log.info({ uploadId: id, offset, bytes: declared }, 'tus: PATCH body broke off (one part, nothing kept)');
        throw new KilnError(
          'invalid_input',
          'The request body broke off; a PATCH of 5 MiB or more is stored as one part, so nothing of it is kept (HEAD gives the offset).',
        );
      }
      if (part) return this.state(id);
    }

    let split: AppendResult;
    try {
      split = await this.writer
        .append(id, offset, body.iterator({ destroyOnReturn: false }), {
          segmentSize: segmentSizeFor(declared, this.segmentSize),
          maxBytes: room,
          checksum,
          lock,
          asParts: { upload, holdsObjects: await this.holdsObjects(id) },
        })
        .catch((err: unknown) => {
          throw cutByQuota && err instanceof KilnError && err.code === 'payload_too_large'
            ? this.quotas.quotaError(quota!.used + offset, declared ?? 0, 'body', quota!.quota)
            : err;
        });
      if (split.checksumMismatch) throw checksumMismatch(checksum!.algorithm);
    } catch (err: unknown) {
      if (declaring !== undefined) await this.undeclareLength(id, declaring);
      throw err;
    }
    if (split.interrupted) {
      this.log.info({ uploadId: id, offset, bytes: split.bytes, kept: !checksum }, 'tus: PATCH body broke off');
      throw new KilnError(
        'invalid_input',
        checksum
          ? 'The request body broke off; with Upload-Checksum nothing of it is kept.'
          : 'The request body broke off; the bytes that arrived are kept (HEAD gives the offset).',
      );
    }
    return this.state(id);
  }

  /** Whether the upload holds chunk objects (then a small piece that ends the file stays an object too). */
  private async holdsObjects(id: string): Promise<boolean> {
    return (await this.prisma.uploadChunk.count({ where: { uploadId: id, objectKey: { not: null } } })) > 0;
  }

  /** creation-defer-length: what a declared Upload-Length must be, checked before anything is written. */
  private checkDeclaredLength(length: number, offset: number): void {
    if (length < 1)
      throw new KilnError('invalid_input', 'Upload-Length must be at least 1 byte.', [
        { field: 'Upload-Length', message: 'at least 1' },
      ]);
    if (length > this.config.KILN_MAX_FILE_SIZE)
      throw tooLarge(length, this.config.KILN_MAX_FILE_SIZE, 'Upload-Length');
    if (length < offset)
      throw new KilnError(
        'invalid_input',
        `Upload-Length ${length} is less than the ${offset} bytes already received.`,
        [{ field: 'Upload-Length', message: `at least ${offset}` }],
      );
  }

  /** creation-defer-length: the first PATCH that knows the length sends Upload-Length. */
  private async declareLength(id: string, length: number, offset: number): Promise<ChunkResult> {
    await this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`upload:${id}`}, 0))`;
      const current = await tx.upload.findUnique({ where: { id } });
      if (!current) throw new KilnError('not_found', 'The upload no longer exists.');
      if (!current.lengthDeferred) return;
      await this.quotas.assertStorageRoom(current.ownerKeyHash, length, 'Upload-Length', tx);
      await tx.upload.update({ where: { id }, data: { size: BigInt(length), lengthDeferred: false } });
      if (current.inputId) await tx.input.update({ where: { id: current.inputId }, data: { size: BigInt(length) } });
    });
    // All the bytes may be in already: the declaration completes the upload.
    return offset === length ? this.chunks.recordChunks(id, []) : this.chunks.state(id, false);
  }

  /**
   * Takes back a length declared by a PATCH that was then refused (its body went over the length,
   * did not match its checksum): the upload waits for its length again, as before the PATCH.
   */
  private async undeclareLength(id: string, length: number): Promise<void> {
    await this.prisma
      .$transaction(async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`upload:${id}`}, 0))`;
        const current = await tx.upload.findUnique({ where: { id } });
        if (!current || current.lengthDeferred || current.status !== 'uploading' || current.size !== BigInt(length))
          return;
        await tx.upload.update({ where: { id }, data: { size: 0n, lengthDeferred: true } });
        if (current.inputId) await tx.input.update({ where: { id: current.inputId }, data: { size: null } });
      })
      .catch((err: unknown) => this.log.warn({ uploadId: id, err: String(err) }, 'tus: Upload-Length not taken back'));
  }

  /** The upload's recorded state as the protocol answers it. */
  async state(id: string): Promise<TusUploadState> {
    return tusState(await this.chunks.state(id, false));
  }
}

/** The protocol's view of an upload's recorded state. */
export function tusState(result: ChunkResult): TusUploadState {
  const u = result.upload;
  return {
    offset: u.status === 'uploading' ? contiguousOffset(result.received) : Number(u.size),
    length: u.lengthDeferred ? null : Number(u.size),
    metadata: u.tusMetadata,
    expiresAt: u.expiresAt,
    status: u.status,
    jobId: u.jobId,
  };
}

/**
 * The segment size for a PATCH of `declared` bytes (its Content-Length): at most `max`, and when
 * the body is large enough, its equal share of ⌈declared / max⌉ segments, so that every segment
 * is at least 5 MiB and becomes an S3 part (a 10 MiB PATCH with max 8 MiB: 2 × 5 MiB, not 8 + 2).
 * A body of unknown length is cut at `max` (only its tail may be shorter).
 */
export function segmentSizeFor(declared: number | undefined, max: number): number {
  if (declared === undefined || declared <= max) return max;
  const count = Math.ceil(declared / max);
  const share = Math.ceil(declared / count);
  const last = declared - (count - 1) * share;
  return last >= S3_PART_MIN ? share : max;
}

const S3_PART_MIN = 5 * MiB;

export function tooLarge(bytes: number, limit: number, field: string): KilnError {
  return new KilnError('payload_too_large', `${field} ${bytes} is over the limit of ${limit} bytes.`, [
    { field, message: `at most ${limit}`, limit },
  ]);
}
