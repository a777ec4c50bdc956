import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KilnError } from '@kiln/contracts';
import { PRISMA, type PrismaClient, type Upload } from '@kiln/database';
import { LOGGER, type Logger } from '@kiln/observability';
import { ChunkStore, UploadLocks, claimUploadInput } from '@kiln/uploads';
import type { Principal } from '../auth/principal';
import { JobsService } from '../jobs/jobs.service';
import { KeyLimits } from '../limits/key-limits.service';
import { KeyQuotas } from '../limits/key-quotas.service';
import { METADATA_MAX, UUID, creationSpec, type CreationSpec } from './tus-creation-spec';
import { TUS_CONCAT_FINAL, TUS_CONCAT_PARTIAL, TusConcat, parseUploadConcat } from './tus-concat';
import { TusPatchWriter, tooLarge } from './tus-patch-writer';
import {
  expiresHeader,
  headHeaders,
  isOffsetStream,
  optionsHeaders,
  parseByteCount,
  parseCreationLength,
  parseUploadChecksum,
  parseUploadMetadata,
  parseUploadOffset,
  patchHeaders,
  uploadGone,
  wrongContentType,
} from './tus-protocol';
import type { TusRequest } from './tus-request';

export { creationSpec, type CreationSpec } from './tus-creation-spec';
export { TUS_SEGMENT_MAX, tusState } from './tus-patch-writer';

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
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly jobs: JobsService,
    private readonly chunks: ChunkStore,
    private readonly patchWriter: TusPatchWriter,
    private readonly limits: KeyLimits,
    private readonly locks: UploadLocks,
    private readonly quotas: KeyQuotas,
    private readonly concat: TusConcat,
  ) {}

  options(): Record<string, string> {
    return optionsHeaders(this.config.KILN_MAX_FILE_SIZE);
  }

  /**
   * Creation (POST): Upload-Length or Upload-Defer-Length, Upload-Metadata; 201 with Location.
   * creation-with-upload: a body sent as application/offset+octet-stream is the first PATCH.
   */
  async create(principal: Principal, request: TusRequest, body: Readable, origin: string): Promise<TusAnswer> {
    const concat = parseUploadConcat(request.concat);
    if (concat?.kind === 'final') return this.createFinal(principal, request, concat.ids, origin);
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
    // A partial upload is bytes of a final upload, never a job's input (or a new job) on its own.
    const partial = concat?.kind === 'partial';
    if (partial) {
      delete spec.jobId;
      delete spec.inputId;
      delete spec.target;
      delete spec.checksumSha256;
    }
    const declared = parseByteCount('Content-Length', request.contentLength);
    const withBody = isOffsetStream(request.contentType);
    if (!withBody && (declared ?? 0) > 0) throw wrongContentType(request.contentType);
    const checksum = withBody ? parseUploadChecksum(request.checksum) : undefined;
    if (withBody && declared !== undefined && declared > (length.deferred ? max : length.length)) {
      throw tooLarge(declared, length.deferred ? max : length.length, 'Content-Length');
    }
    if (!partial) scopeToJobToken(principal, spec);

    const upload = await this.open(
      principal,
      spec,
      length,
      rawMetadata,
      partial
        ? {
            extra: {
              tusConcat: TUS_CONCAT_PARTIAL,
              scopeJobId: principal.kind === 'job-token' ? principal.jobId : null,
            },
          }
        : {},
    );
    const headers: Record<string, string> = {
      Location: `${this.config.KILN_PUBLIC_URL?.replace(/\/$/, '') ?? origin}/v1/tus/${upload.id}`,
      ...expiresHeader(upload),
      ...(upload.jobId ? { 'Kiln-Job-Id': upload.jobId } : {}),
    };
    if (withBody) {
      try {
        const state = await this.limits.withUploadSlot(principal, () =>
          this.locks.withLock(upload.id, (lock) =>
            this.patchWriter.write(upload.id, 0, checksum, undefined, request.contentLength, body, lock),
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
        Object.assign(headers, patchHeaders(await this.patchWriter.state(upload.id)));
      }
    }
    return { status: 201, headers };
  }

  /**
   * Concatenation: a final upload (Upload-Concat: final;<urls>) made of partial uploads of this
   * caller. It takes no bytes itself (no body, no Upload-Length: its length is the partials'
   * sum) and carries the metadata (file name, job_id / input_id / target, checksum_sha256), as a
   * normal creation. The partials' storage quota was admitted when they were created. Once every
   * partial is assembled the final is assembled from them server side.
   */
  private async createFinal(
    principal: Principal,
    request: TusRequest,
    ids: string[],
    origin: string,
  ): Promise<TusAnswer> {
    if (request.uploadLength !== undefined || request.deferLength !== undefined)
      throw new KilnError(
        'invalid_input',
        'A final upload takes no Upload-Length: it is the sum of its partial uploads.',
        [{ field: 'Upload-Length', message: 'not with Upload-Concat: final' }],
      );
    const declared = parseByteCount('Content-Length', request.contentLength);
    if ((declared ?? 0) > 0 || isOffsetStream(request.contentType))
      throw new KilnError('invalid_input', 'A final upload takes no bytes; send them to its partial uploads.', [
        { field: 'body', message: 'not with Upload-Concat: final' },
      ]);
    const rawMetadata = request.metadata?.trim() || null;
    if (rawMetadata && rawMetadata.length > METADATA_MAX) {
      throw new KilnError('invalid_input', `Upload-Metadata is longer than ${METADATA_MAX} characters.`, [
        { field: 'Upload-Metadata', message: 'too long' },
      ]);
    }
    const spec = creationSpec(parseUploadMetadata(rawMetadata ?? undefined));
    scopeToJobToken(principal, spec);
    const { size } = await this.concat.partialsFor(ids, (id) => this.loadOwned(principal, id));
    const max = this.config.KILN_MAX_FILE_SIZE;
    if (size > max) throw tooLarge(size, max, 'Upload-Concat');
    const upload = await this.open(principal, spec, { deferred: false, length: size }, rawMetadata, {
      extra: { tusConcat: TUS_CONCAT_FINAL, concatParts: ids },
      admit: false,
      within: (tx, final) => this.concat.take(tx, final, ids),
    });
    await this.concat.queueIfReady(upload.id);
    const base = this.config.KILN_PUBLIC_URL?.replace(/\/$/, '') ?? origin;
    return {
      status: 201,
      headers: {
        Location: `${base}/v1/tus/${upload.id}`,
        ...expiresHeader(upload),
        ...(upload.jobId ? { 'Kiln-Job-Id': upload.jobId } : {}),
      },
    };
  }

  /** HEAD: the offset to resume from (concatenation: Upload-Concat too). */
  async head(principal: Principal, id: string, origin = ''): Promise<TusAnswer> {
    const upload = await this.loadOwned(principal, id);
    if (upload.tusConcat === TUS_CONCAT_FINAL) {
      const base = this.config.KILN_PUBLIC_URL?.replace(/\/$/, '') ?? origin;
      return { status: 200, headers: await this.concat.head(upload, base) };
    }
    const headers = headHeaders(await this.patchWriter.state(id));
    if (upload.tusConcat === TUS_CONCAT_PARTIAL) headers['Upload-Concat'] = 'partial';
    return { status: 200, headers };
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
    if (upload.tusConcat === TUS_CONCAT_FINAL)
      throw new KilnError(
        'forbidden',
        'A final upload (Upload-Concat: final) takes no PATCH; send bytes to its partial uploads.',
      );
    if (upload.jobId && upload.status === 'uploading')
      this.jobs.assertAccepting(await this.jobs.loadOwned(principal, upload.jobId));
    const state = await this.limits.withUploadSlot(principal, () =>
      this.locks.withLock(id, (lock) =>
        this.patchWriter.write(id, offset, checksum, length, request.contentLength, body, lock),
      ),
    );
    return { status: 204, headers: patchHeaders(state) };
  }

  /**
   * Termination (DELETE): chunks and row deleted, as an upload session's abort. A final upload takes
   * its partial uploads with it (they are bytes of this final only): their objects, multipart
   * uploads, chunks and rows.
   */
  async terminate(principal: Principal, id: string): Promise<void> {
    const upload = await this.loadOwned(principal, id, { expired: true });
    if (upload.status === 'complete')
      throw new KilnError('conflict', 'The upload is complete; delete its job instead.');
    if (upload.tusConcat === TUS_CONCAT_FINAL) await this.concat.discardPartials(upload);
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

  /** Opens the Upload row: standalone, bound to a job's input (job_id), or to a job created for it (target). */
  private async open(
    principal: Principal,
    spec: CreationSpec,
    length: { deferred: boolean; length?: number },
    metadata: string | null,
    concat: {
      extra?: { tusConcat: string; scopeJobId?: string | null; concatParts?: string[] };
      admit?: boolean;
      within?: (tx: Parameters<KeyQuotas['admitUpload']>[0], upload: { id: string; expiresAt: Date }) => Promise<void>;
    } = {},
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
      ...concat.extra,
    };
    let jobId = spec.jobId;
    let inputId = spec.inputId;
    let created: string | undefined;
    const admit = async (tx: Parameters<KeyQuotas['admitUpload']>[0]) => {
      if (concat.admit !== false) await this.quotas.admitUpload(tx, principal.ownerKeyHash, size ?? 0, 'Upload-Length');
      await concat.within?.(tx, { id: data.id, expiresAt: data.expiresAt });
    };
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
    if (principal.kind === 'job-token' && (upload.jobId ?? upload.scopeJobId) !== principal.jobId)
      throw new KilnError('forbidden', 'This job token belongs to another job.');
    if (!opts.expired && upload.status === 'uploading' && upload.expiresAt && upload.expiresAt < new Date())
      throw uploadGone();
    return upload;
  }
}

/**
 * A creation by a job token: the upload goes into the token's job (job_id defaults to it, another
 * one is 403) and creates no job (`target` is 403). An API key's creation is left as it is.
 */
function scopeToJobToken(principal: Principal, spec: { target?: unknown; jobId?: string }): void {
  if (principal.kind !== 'job-token') return;
  if (spec.target)
    throw new KilnError(
      'forbidden',
      'A job token cannot create jobs (target); send an API key, or upload into the token’s job.',
    );
  spec.jobId ??= principal.jobId;
  if (spec.jobId !== principal.jobId)
    throw new KilnError('forbidden', 'A job token can only open uploads into its own job (job_id).');
}
