import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KilnError, headerFilename, parseFilename } from '@kiln/contracts';
import { PRISMA, type PrismaClient, type Upload } from '@kiln/database';
import { ChunkStore, claimUploadInput, parseContentRange } from '@kiln/uploads';
import { inputView, type InputView } from '@kiln/workflow';
import type { Principal } from '../auth/principal';
import { KeyQuotas } from '../limits/key-quotas.service';
import { JobsService } from '../jobs/jobs.service';
import type { JobChunkRequest } from './upload-headers';

const CLIENT_UPLOAD_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface JobChunkAnswer {
  status: 201 | 202;
  body: { input: InputView | null; received_bytes: number; complete: boolean; upload_id: string };
}

/**
 * Chunked upload into a job (online-convert style): `POST /v1/jobs/{id}/upload` with
 * `X-Upload-Id` (client-chosen, unique per file in the job) and `Content-Range`. Chunks come in any
 * order, in parallel, to any gateway replica; 202 until every byte is present, then 201.
 */
@Injectable()
export class JobChunkUploadService {
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    private readonly jobs: JobsService,
    private readonly chunks: ChunkStore,
    private readonly quotas: KeyQuotas,
  ) {}

  async upload(principal: Principal, jobId: string, request: JobChunkRequest, body: Readable): Promise<JobChunkAnswer> {
    const clientId = request.uploadId;
    if (!clientId || !CLIENT_UPLOAD_ID.test(clientId)) {
      throw new KilnError(
        'invalid_input',
        'A chunk needs X-Upload-Id: 1-128 characters of letters, digits, ".", "_", ":" or "-".',
        [{ field: 'X-Upload-Id', message: clientId ? 'invalid' : 'required' }],
      );
    }
    const range = parseContentRange(request.contentRange);
    const job = await this.jobs.loadOwned(principal, jobId);
    let upload = await this.prisma.upload.findUnique({
      where: { jobId_clientUploadId: { jobId, clientUploadId: clientId } },
    });
    if (!upload || upload.status === 'uploading') this.jobs.assertAccepting(job);
    upload ??= await this.open(job.id, job.ownerKeyHash, clientId, range.total, request);
    if (upload.expiresAt && upload.expiresAt < new Date() && upload.status === 'uploading') {
      throw new KilnError('not_found', 'The upload has expired; start it again with a new X-Upload-Id.');
    }
    const state = await this.chunks.writeChunk(upload, range, body, request);
    const input = state.upload.inputId
      ? await this.prisma.input.findUnique({ where: { id: state.upload.inputId } })
      : null;
    return {
      status: state.complete ? 201 : 202,
      body: {
        input: input ? inputView(input) : null,
        received_bytes: state.receivedBytes,
        complete: state.complete,
        upload_id: clientId,
      },
    };
  }

  /** The first chunk of a file opens its upload (and claims its input) under a per-job lock. */
  private async open(
    jobId: string,
    ownerKeyHash: string,
    clientId: string,
    total: number,
    request: JobChunkRequest,
  ): Promise<Upload> {
    if (total > this.config.KILN_MAX_FILE_SIZE) {
      throw new KilnError(
        'payload_too_large',
        `The file has ${total} bytes; the limit is ${this.config.KILN_MAX_FILE_SIZE}.`,
        [{ field: 'Content-Range', message: `total at most ${this.config.KILN_MAX_FILE_SIZE}` }],
      );
    }
    const name = request.fileName;
    const contentType = (request.fileType ?? '').split(';')[0].trim();
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`job-uploads:${jobId}`}, 0))`;
      const existing = await tx.upload.findUnique({
        where: { jobId_clientUploadId: { jobId, clientUploadId: clientId } },
      });
      if (existing) return existing;
      const filename = name ? parseFilename(headerFilename(name), 'X-File-Name') : undefined;
      const input = await claimUploadInput(tx, jobId, request.inputId, filename, () =>
        this.quotas.assertJobUnits(tx, jobId, { inputs: 1 }),
      );
      const finalName = filename ?? input.filename ?? 'file';
      await tx.input.update({ where: { id: input.id }, data: { filename: finalName, size: BigInt(total) } });
      await this.quotas.admitUpload(tx, ownerKeyHash, total, 'Content-Range');
      return tx.upload.create({
        data: {
          id: randomUUID(),
          ownerKeyHash,
          jobId,
          inputId: input.id,
          clientUploadId: clientId,
          filename: finalName,
          size: BigInt(total),
          contentType: contentType && contentType !== 'application/octet-stream' ? contentType : null,
          expiresAt: new Date(Date.now() + this.config.KILN_UPLOAD_TTL_SECONDS * 1000),
        },
      });
    });
  }
}
