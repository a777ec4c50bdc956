import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KilnError, safeFilename } from '@kiln/contracts';
import { PRISMA, type Prisma, type PrismaClient, type Upload } from '@kiln/database';
import { ChunkStore, claimUploadInput, gapsOf, parseContentRange, type ChunkResult } from '@kiln/uploads';
import type { Principal } from '../auth/principal';
import { KeyQuotas } from '../limits/key-quotas.service';
import { parseOrThrow } from '../http/validation';
import { JobsService } from '../jobs/jobs.service';
import type { ChunkRequest } from './upload-headers';
import { createSessionBody, type CreateSessionBody } from './upload-sessions.schemas';
import { uploadView, type UploadView } from './upload-view';

/**
 * Upload sessions for large files: create, PUT chunks, GET/HEAD to resume, complete, abort.
 * `origin` is the scheme and host the request was sent to (the base of `location` without KILN_PUBLIC_URL).
 */
@Injectable()
export class UploadSessionsService {
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    private readonly jobs: JobsService,
    private readonly chunks: ChunkStore,
    private readonly quotas: KeyQuotas,
  ) {}

  async create(principal: Principal, body: unknown, origin: string): Promise<UploadView> {
    const spec = parseOrThrow(createSessionBody, body);
    // Direct sessions are DirectUploadsService.create's (the controller sends `mode: "direct"` there).
    if (spec.mode === 'direct')
      throw new KilnError('invalid_input', 'Invalid body: mode: direct sessions are opened by DirectUploadsService', [
        { field: 'mode', message: 'not handled here' },
      ]);
    for (const field of ['transfer', 'part_size'] as const)
      if (spec[field] !== undefined)
        throw new KilnError('invalid_input', `Invalid body: ${field}: only with mode "direct"`, [
          { field, message: 'only with mode "direct"' },
        ]);
    const upload = await this.open(principal, spec);
    return this.view(upload.id, origin);
  }

  /**
   * Opens a session (checks, quotas, the job's input claimed) and returns its row. `prepare` runs
   * once every check passed, before the row is written, with the new upload's id and file name: its
   * `data` goes into the row (a direct session's multipart upload); `undo` runs when the row could
   * not be written.
   */
  async open(
    principal: Principal,
    spec: CreateSessionBody,
    prepare?: (
      id: string,
      filename: string,
    ) => Promise<{ data: Partial<Prisma.UploadUncheckedCreateInput>; undo: () => Promise<void> }>,
  ): Promise<Upload> {
    if (spec.size > this.config.KILN_MAX_FILE_SIZE) {
      throw new KilnError(
        'payload_too_large',
        `The file has ${spec.size} bytes; the limit is ${this.config.KILN_MAX_FILE_SIZE}.`,
        [{ field: 'size', message: `at most ${this.config.KILN_MAX_FILE_SIZE}` }],
      );
    }
    this.quotas.assertExpiry(spec.expires_at);
    const nowS = Math.floor(Date.now() / 1000);
    if (spec.expires_at !== undefined && spec.expires_at !== 0 && spec.expires_at <= nowS) {
      throw new KilnError(
        'invalid_input',
        'Invalid body: expires_at: must be in the future (epoch seconds), or 0 for never',
        [{ field: 'expires_at', message: 'must be in the future, or 0' }],
      );
    }
    if (principal.kind === 'job-token' && spec.job_id !== principal.jobId) {
      throw new KilnError('forbidden', 'A job token can only open uploads into its own job (job_id).');
    }
    const expiresAt =
      spec.expires_at === 0
        ? null
        : spec.expires_at !== undefined
          ? new Date(spec.expires_at * 1000)
          : new Date(Date.now() + this.config.KILN_UPLOAD_TTL_SECONDS * 1000);
    const filename = safeFilename(spec.filename);
    const id = randomUUID();
    if (spec.input_id && !spec.job_id)
      throw new KilnError('invalid_input', 'Invalid body: input_id needs job_id', [
        { field: 'input_id', message: 'needs job_id' },
      ]);
    const job = spec.job_id ? await this.jobs.loadOwned(principal, spec.job_id) : null;
    if (job) this.jobs.assertAccepting(job);
    const prepared = prepare ? await prepare(id, filename) : undefined;
    const data = {
      ...prepared?.data,
      id,
      ownerKeyHash: principal.ownerKeyHash,
      filename,
      size: BigInt(spec.size),
      contentType: spec.content_type ?? null,
      checksumSha256: spec.checksum_sha256?.toLowerCase() ?? null,
      expiresAt,
    };
    try {
      return await this.write(principal, spec, job, filename, data);
    } catch (err: unknown) {
      await prepared?.undo().catch(() => undefined);
      throw err;
    }
  }

  private async write(
    principal: Principal,
    spec: CreateSessionBody,
    job: { id: string } | null,
    filename: string,
    data: Prisma.UploadUncheckedCreateInput,
  ): Promise<Upload> {
    let upload: Upload;
    if (job) {
      upload = await this.prisma.$transaction(async (tx) => {
        const input = await claimUploadInput(tx, job.id, spec.input_id, filename, () =>
          this.quotas.assertJobUnits(tx, job.id, { inputs: 1 }),
        );
        await tx.input.update({
          where: { id: input.id },
          data: { filename, size: BigInt(spec.size), contentType: spec.content_type ?? null },
        });
        await this.quotas.admitUpload(tx, principal.ownerKeyHash, spec.size, 'size');
        return tx.upload.create({ data: { ...data, jobId: job.id, inputId: input.id } });
      });
    } else {
      upload = await this.prisma.$transaction(async (tx) => {
        await this.quotas.admitUpload(tx, principal.ownerKeyHash, spec.size, 'size');
        return tx.upload.create({ data });
      });
    }
    return upload;
  }

  async putChunk(
    principal: Principal,
    id: string,
    request: ChunkRequest,
    bytes: Readable,
    origin: string,
  ): Promise<{ status: 201 | 202; body: UploadView }> {
    const range = parseContentRange(request.contentRange);
    const upload = await this.loadOwned(principal, id);
    if (upload.directTransfer)
      throw new KilnError(
        'conflict',
        'This is a direct upload session: send its bytes to S3 (parts_url or form_post_url), not to the gateway.',
      );
    if (upload.status === 'uploading' && upload.jobId) {
      // The upload's owner is the job's owner (checked when it was opened): only the status matters here.
      const job = await this.prisma.job.findUnique({ where: { id: upload.jobId }, select: { id: true, status: true } });
      if (job) this.jobs.assertAccepting(job);
    }
    const state = await this.chunks.writeChunk(upload, range, bytes, request);
    return { status: state.complete ? 201 : 202, body: await this.view(id, origin, state) };
  }

  async get(principal: Principal, id: string, origin: string): Promise<UploadView> {
    await this.loadOwned(principal, id);
    return this.view(id, origin);
  }

  /** Explicit finalize: 400 listing the gaps while bytes are missing; otherwise (re)queues the assembly. */
  async complete(principal: Principal, id: string, origin: string): Promise<UploadView> {
    const upload = await this.loadOwned(principal, id);
    if (upload.status === 'failed')
      throw new KilnError('conflict', `The upload failed: ${upload.error ?? 'see its status'}.`);
    if (upload.status === 'uploading') {
      const chunks = await this.prisma.uploadChunk.findMany({
        where: { uploadId: id },
        select: { start: true, end: true },
      });
      const gaps = gapsOf(
        chunks.map((c) => ({ start: Number(c.start), end: Number(c.end) })),
        Number(upload.size),
      );
      throw new KilnError(
        'invalid_input',
        `The upload is missing ${gaps.length} range(s) of bytes; send them, then complete again.`,
        gaps.map(([s, e]) => ({ field: 'Content-Range', message: `missing bytes ${s}-${e}`, start: s, end: e })),
      );
    }
    if (!upload.completedAt) await this.chunks.queueAssembly(upload);
    return this.view(id, origin);
  }

  /** Abort: stored chunks are deleted; the job's input waits for another upload. */
  async abort(principal: Principal, id: string): Promise<void> {
    const upload = await this.loadOwned(principal, id);
    if (upload.status === 'complete')
      throw new KilnError('conflict', 'The upload is complete; delete its job instead.');
    await this.chunks.discard(id);
    if (upload.inputId) {
      await this.prisma.input.updateMany({
        where: { id: upload.inputId, status: 'uploading' },
        data: { status: 'pending', size: null },
      });
    }
  }

  async loadOwned(principal: Principal, id: string): Promise<Upload> {
    const upload = /^[0-9a-f-]{36}$/i.test(id) ? await this.prisma.upload.findUnique({ where: { id } }) : null;
    if (!upload || upload.ownerKeyHash !== principal.ownerKeyHash) throw new KilnError('not_found', 'No such upload.');
    if (principal.kind === 'job-token' && upload.jobId !== principal.jobId)
      throw new KilnError('forbidden', 'This job token belongs to another job.');
    if (upload.status === 'uploading' && upload.expiresAt && upload.expiresAt < new Date()) {
      throw new KilnError('not_found', 'The upload has expired.');
    }
    return upload;
  }

  /** The upload's view; `known` is the state a chunk write has just read (no second read). */
  async view(id: string, origin: string, known?: ChunkResult): Promise<UploadView> {
    const state = known ?? (await this.chunks.state(id, false));
    const input = state.upload.inputId
      ? await this.prisma.input.findUnique({ where: { id: state.upload.inputId } })
      : null;
    const base = this.config.KILN_PUBLIC_URL?.replace(/\/$/, '') ?? origin;
    return uploadView(state, base, this.chunks.limits, input);
  }
}
