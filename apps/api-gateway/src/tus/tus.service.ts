import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KilnError, findTarget, parseFilename } from '@kiln/contracts';
import { PRISMA, type PrismaClient, type Upload } from '@kiln/database';
import { LOGGER, type Logger } from '@kiln/observability';
import {
  ChunkStore,
  SegmentedWriter,
  UploadLocks,
  claimUploadInput,
  type ChunkResult,
  type HeldUploadLock,
} from '@kiln/uploads';
import type { Principal } from '../auth/principal';
import { JobsService } from '../jobs/jobs.service';
import { KeyLimits } from '../limits/key-limits.service';
import { KeyQuotas } from '../limits/key-quotas.service';
import {
  checksumMismatch,
  contiguousOffset,
  expiresHeader,
  headHeaders,
  isOffsetStream,
  offsetMismatch,
  optionsHeaders,
  parseByteCount,
  parseCreationLength,
  parseUploadChecksum,
  parseUploadMetadata,
  parseUploadOffset,
  patchHeaders,
  uploadGone,
  wrongContentType,
  type TusUploadState,
  type UploadChecksum,
} from './tus-protocol';
import type { TusRequest } from './tus-request';

const MiB = 1024 * 1024;
/**
 * Largest chunk object one PATCH segment becomes (at most two segments of a PATCH are in memory).
 * At least 5 MiB keeps server-side assembly possible; KILN_CHUNK_SIZE_MAX lowers it.
 */
export const TUS_SEGMENT_MAX = 8 * MiB;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MEDIA_TYPE = /^[\w.+-]+\/[\w.+-]+$/;
const METADATA_MAX = 4096;

/** What Upload-Metadata asks for, validated. */
export interface CreationSpec {
  filename: string;
  contentType: string | null;
  jobId?: string;
  inputId?: string;
  target?: string;
  checksumSha256?: string;
}

/**
 * Reads the metadata keys Kiln understands: `filename` (or `name`), `filetype` (or `content_type`,
 * `type`), `job_id`, `input_id`, `target`, `checksum_sha256`. Other keys are kept (HEAD answers them)
 * but mean nothing here. Descriptive values a browser fills in are taken leniently (an odd
 * file type is dropped); the ones that steer the upload are checked, and so is the file name (a
 * name with control characters, a path or over 255 bytes is a 400; none at all is `file`).
 */
export function creationSpec(meta: Record<string, string>): CreationSpec {
  const bad = (field: string, message: string) =>
    new KilnError('invalid_input', `Upload-Metadata: ${field}: ${message}.`, [
      { field: `Upload-Metadata.${field}`, message },
    ]);
  const type = (meta.filetype ?? meta.content_type ?? meta.type ?? '').trim();
  const name = meta.filename !== undefined ? 'filename' : 'name';
  const spec: CreationSpec = {
    filename: meta[name] ? parseFilename(meta[name], `Upload-Metadata.${name}`) : 'file',
    contentType: MEDIA_TYPE.test(type) && type.length <= 255 ? type : null,
  };
  if (meta.job_id !== undefined) {
    if (!UUID.test(meta.job_id)) throw bad('job_id', 'must be a job id (uuid)');
    spec.jobId = meta.job_id.toLowerCase();
  }
  if (meta.input_id !== undefined) {
    if (!UUID.test(meta.input_id)) throw bad('input_id', 'must be an input id (uuid)');
    if (spec.jobId === undefined) throw bad('input_id', 'needs job_id');
    spec.inputId = meta.input_id.toLowerCase();
  }
  if (meta.target !== undefined) {
    const target = findTarget(meta.target.trim().toLowerCase());
    if (!target) throw bad('target', `unknown target "${meta.target}"; see GET /v1/formats`);
    if (spec.jobId !== undefined)
      throw bad('target', 'creates a new job; with job_id, add conversions to that job instead');
    spec.target = target.target;
  }
  if (meta.checksum_sha256 !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(meta.checksum_sha256)) throw bad('checksum_sha256', 'must be 64 hex characters');
    spec.checksumSha256 = meta.checksum_sha256.toLowerCase();
  }
  return spec;
}

export interface TusAnswer {
  status: number;
  headers: Record<string, string>;
}

/**
 * The tus 1.0.0 protocol over Kiln's upload model: a tus upload is an Upload row whose bytes are
 * chunk objects under chunks/<uploadId>/ recorded by ChunkStore, so it completes, assembles and
 * shows in GET /v1/uploads/{id} exactly like an upload session. The offset lives in PostgreSQL
 * (the recorded chunk ranges), a per-upload lock in Redis serialises writers across replicas.
 */
@Injectable()
export class TusService {
  private readonly segmentSize: number;

  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly jobs: JobsService,
    private readonly chunks: ChunkStore,
    private readonly writer: SegmentedWriter,
    private readonly limits: KeyLimits,
    private readonly locks: UploadLocks,
    private readonly quotas: KeyQuotas,
  ) {
    this.segmentSize = Math.max(1, Math.min(config.KILN_CHUNK_SIZE_MAX, TUS_SEGMENT_MAX));
  }

  options(): Record<string, string> {
    return optionsHeaders(this.config.KILN_MAX_FILE_SIZE);
  }

  /**
   * Creation (POST): Upload-Length or Upload-Defer-Length, Upload-Metadata; 201 with Location.
   * creation-with-upload: a body sent as application/offset+octet-stream is the first PATCH.
   */
  async create(principal: Principal, request: TusRequest, body: Readable, origin: string): Promise<TusAnswer> {
    const max = this.config.KILN_MAX_FILE_SIZE;
    const length = parseCreationLength(request.uploadLength, request.deferLength);
    if (!length.deferred && length.length > max) throw tooLarge(length.length, max, 'Upload-Length');
    const rawMetadata = request.metadata?.trim() || null;
    if (rawMetadata && rawMetadata.length > METADATA_MAX) {
      throw new KilnError('invalid_input', `Upload-Metadata is longer than ${METADATA_MAX} characters.`, [
        { field: 'Upload-Metadata', message: 'too long' },
      ]);
    }
    const spec = creationSpec(parseUploadMetadata(rawMetadata ?? undefined));
    const declared = parseByteCount('Content-Length', request.contentLength);
    const withBody = isOffsetStream(request.contentType);
    if (!withBody && (declared ?? 0) > 0) throw wrongContentType(request.contentType);
    const checksum = withBody ? parseUploadChecksum(request.checksum) : undefined;
    if (withBody && declared !== undefined && declared > (length.deferred ? max : length.length)) {
      throw tooLarge(declared, length.deferred ? max : length.length, 'Content-Length');
    }
    if (principal.kind === 'job-token') {
      if (spec.target)
        throw new KilnError(
          'forbidden',
          'A job token cannot create jobs (target); send an API key, or upload into the token’s job.',
        );
      spec.jobId ??= principal.jobId;
      if (spec.jobId !== principal.jobId)
        throw new KilnError('forbidden', 'A job token can only open uploads into its own job (job_id).');
    }

    const upload = await this.open(principal, spec, length, rawMetadata);
    const headers: Record<string, string> = {
      Location: `${this.config.KILN_PUBLIC_URL?.replace(/\/$/, '') ?? origin}/v1/tus/${upload.id}`,
      ...expiresHeader(upload),
      ...(upload.jobId ? { 'Kiln-Job-Id': upload.jobId } : {}),
    };
    if (withBody) {
      try {
        const state = await this.limits.withUploadSlot(principal, () =>
          this.locks.withLock(upload.id, (lock) =>
            this.write(upload.id, 0, checksum, undefined, request.contentLength, body, lock),
          ),
        );
        Object.assign(headers, patchHeaders(state));
      } catch (err: unknown) {
        // The upload exists: answer 201 with what was stored, the client goes on with PATCH.
        if (!(err instanceof KilnError) || err.status >= 500 || body.destroyed) throw err;
        this.log.debug(
          { uploadId: upload.id, err: err.message },
          'tus: the body sent with the creation was not stored',
        );
        Object.assign(headers, patchHeaders(await this.state(upload.id)));
      }
    }
    return { status: 201, headers };
  }

  /** HEAD: the offset to resume from. */
  async head(principal: Principal, id: string): Promise<TusAnswer> {
    await this.loadOwned(principal, id);
    return { status: 200, headers: headHeaders(await this.state(id)) };
  }

  /**
   * PATCH: bytes at Upload-Offset, split into stored chunk objects as they arrive. Under the
   * upload's Redis lock: the offset is checked against PostgreSQL, then written. Without
   * Upload-Checksum each segment is recorded once stored, so an interrupted request keeps what
   * arrived; with it, nothing is recorded until the whole body matched its checksum.
   */
  async patch(principal: Principal, id: string, request: TusRequest, body: Readable): Promise<TusAnswer> {
    if (!isOffsetStream(request.contentType)) throw wrongContentType(request.contentType);
    const offset = parseUploadOffset(request.uploadOffset);
    const checksum = parseUploadChecksum(request.checksum);
    const length = parseByteCount('Upload-Length', request.uploadLength);
    const upload = await this.loadOwned(principal, id);
    if (upload.jobId && upload.status === 'uploading')
      this.jobs.assertAccepting(await this.jobs.loadOwned(principal, upload.jobId));
    const state = await this.limits.withUploadSlot(principal, () =>
      this.locks.withLock(id, (lock) => this.write(id, offset, checksum, length, request.contentLength, body, lock)),
    );
    return { status: 204, headers: patchHeaders(state) };
  }

  /** Termination (DELETE): chunks and row deleted, as an upload session's abort. */
  async terminate(principal: Principal, id: string): Promise<void> {
    const upload = await this.loadOwned(principal, id, { expired: true });
    if (upload.status === 'complete')
      throw new KilnError('conflict', 'The upload is complete; delete its job instead.');
    await this.chunks.discard(id);
    if (upload.inputId) {
      await this.prisma.input.updateMany({
        where: { id: upload.inputId, status: 'uploading' },
        data: { status: 'pending', size: null },
      });
    }
    // The job this upload created (metadata `target`) has nothing left to convert.
    if (upload.jobId && parseUploadMetadata(upload.tusMetadata ?? undefined).target !== undefined) {
      await this.jobs.cancel(principal, upload.jobId);
    }
  }

  private async write(
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
    if (declaredLength !== undefined) {
      if (result.upload.lengthDeferred) result = await this.declareLength(id, declaredLength, current);
      else if (declaredLength !== Number(result.upload.size)) {
        throw new KilnError(
          'invalid_input',
          `Upload-Length ${declaredLength} differs from the upload's length ${result.upload.size}; it cannot change.`,
          [{ field: 'Upload-Length', message: `must be ${result.upload.size}` }],
        );
      }
    }
    let room = result.upload.lengthDeferred
      ? this.config.KILN_MAX_FILE_SIZE - offset
      : Number(result.upload.size) - offset;
    // A length not declared yet counts 0 in the storage quota: its bytes so far count instead.
    const quota = result.upload.lengthDeferred
      ? await this.quotas.storageRoom(result.upload.ownerKeyHash, offset, 'Upload-Offset')
      : undefined;
    const quotaLeft = quota ? quota.room - offset : Infinity;
    if (declared !== undefined && declared > quotaLeft && quotaLeft < room)
      throw this.quotas.quotaError(quota!.used + offset, declared, 'Content-Length');
    const cutByQuota = quotaLeft < room;
    room = Math.min(room, quotaLeft);
    if (declared !== undefined && declared > room) throw tooLarge(declared, room, 'Content-Length');
    if (declared === 0 || result.upload.status !== 'uploading') return tusState(result);

    const split = await this.writer
      .append(id, offset, body.iterator({ destroyOnReturn: false }), {
        segmentSize: this.segmentSize,
        maxBytes: room,
        checksum,
        lock,
      })
      .catch((err: unknown) => {
        throw cutByQuota && err instanceof KilnError && err.code === 'payload_too_large'
          ? this.quotas.quotaError(quota!.used + offset, declared ?? 0, 'body')
          : err;
      });
    if (split.checksumMismatch) throw checksumMismatch(checksum!.algorithm);
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

  /** creation-defer-length: the first PATCH that knows the length sends Upload-Length. */
  private async declareLength(id: string, length: number, offset: number): Promise<ChunkResult> {
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

  /** Opens the Upload row: standalone, bound to a job's input (job_id), or to a job created for it (target). */
  private async open(
    principal: Principal,
    spec: CreationSpec,
    length: { deferred: boolean; length?: number },
    metadata: string | null,
  ): Promise<Upload> {
    const size = length.deferred ? null : (length.length ?? null);
    const data = {
      id: randomUUID(),
      ownerKeyHash: principal.ownerKeyHash,
      filename: spec.filename,
      size: BigInt(size ?? 0),
      contentType: spec.contentType,
      checksumSha256: spec.checksumSha256 ?? null,
      expiresAt: new Date(Date.now() + this.config.KILN_UPLOAD_TTL_SECONDS * 1000),
      tusMetadata: metadata,
      lengthDeferred: length.deferred,
    };
    let jobId = spec.jobId;
    let inputId = spec.inputId;
    let created: string | undefined;
    const admit = (tx: Parameters<KeyQuotas['admitUpload']>[0]) =>
      this.quotas.admitUpload(tx, principal.ownerKeyHash, size ?? 0, 'Upload-Length');
    if (spec.target) {
      const job = await this.jobs.create(principal, {
        process: true,
        input: [{ type: 'upload', filename: spec.filename }],
        conversion: [{ target: spec.target }],
      });
      jobId = created = job.id;
      inputId = job.input[0].id;
    }
    if (!jobId) {
      return this.prisma.$transaction(async (tx) => {
        await admit(tx);
        return tx.upload.create({ data });
      });
    }
    try {
      const job = await this.jobs.loadOwned(principal, jobId);
      this.jobs.assertAccepting(job);
      return await this.prisma.$transaction(async (tx) => {
        const input = await claimUploadInput(tx, job.id, inputId, spec.filename, () =>
          this.quotas.assertJobUnits(tx, job.id, { inputs: 1 }),
        );
        await tx.input.update({
          where: { id: input.id },
          data: { filename: spec.filename, size: size === null ? null : BigInt(size), contentType: spec.contentType },
        });
        await admit(tx);
        return tx.upload.create({ data: { ...data, jobId: job.id, inputId: input.id } });
      });
    } catch (err: unknown) {
      if (created) await this.prisma.job.deleteMany({ where: { id: created } }).catch(() => undefined);
      throw err;
    }
  }

  private async loadOwned(principal: Principal, id: string, opts: { expired?: boolean } = {}): Promise<Upload> {
    const upload = UUID.test(id) ? await this.prisma.upload.findUnique({ where: { id } }) : null;
    if (!upload || upload.ownerKeyHash !== principal.ownerKeyHash) throw new KilnError('not_found', 'No such upload.');
    if (principal.kind === 'job-token' && upload.jobId !== principal.jobId)
      throw new KilnError('forbidden', 'This job token belongs to another job.');
    if (!opts.expired && upload.status === 'uploading' && upload.expiresAt && upload.expiresAt < new Date())
      throw uploadGone();
    return upload;
  }

  private async state(id: string): Promise<TusUploadState> {
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

function tooLarge(bytes: number, limit: number, field: string): KilnError {
  return new KilnError('payload_too_large', `${field} ${bytes} is over the limit of ${limit} bytes.`, [
    { field, message: `at most ${limit}`, limit },
  ]);
}
