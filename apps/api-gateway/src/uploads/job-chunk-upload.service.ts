import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KilnError, headerFilename, parseFilename } from '@kiln/contracts';
import { PRISMA, type PrismaClient, type Upload } from '@kiln/database';
import { ChunkStore, claimUploadInput, parseChunkDigest, parseContentRange, type ChunkRange } from '@kiln/uploads';
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

/** What opening an upload changed in its input, to be put back when its first chunk is refused. */
interface OpenedInput {
  id: string;
  /** The input was added for this upload (else a waiting one was claimed). */
  added: boolean;
  filename: string | null;
  size: bigint | null;
}

/**
 * Chunked upload into a job (online-convert style): `POST /v1/jobs/{id}/upload` with
 * `X-Upload-Id` (client-chosen, unique per file in the job) and `Content-Range`. Chunks come in any
 * order, in parallel, to any gateway replica; 202 until every byte is present, then 201.
 *
 * The first chunk of a file opens its upload. Its headers are checked before (range against the
 * chunk sizes, Content-Length, digest), and when its bytes are refused after (digest mismatch, a
 * body of the wrong length), the upload it opened is removed and its input given back: a refused
 * chunk leaves nothing behind.
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
    const existing = await this.prisma.upload.findUnique({
      where: { jobId_clientUploadId: { jobId, clientUploadId: clientId } },
    });
    if (!existing || existing.status === 'uploading') this.jobs.assertAccepting(job);
    const opened = existing ? null : await this.open(job.id, job.ownerKeyHash, clientId, range, request);
    const upload = existing ?? opened!.upload;
    if (upload.expiresAt && upload.expiresAt < new Date() && upload.status === 'uploading') {
      throw new KilnError('not_found', 'The upload has expired; start it again with a new X-Upload-Id.');
    }
    const state = await this.chunks.writeChunk(upload, range, body, request).catch(async (err: unknown) => {
      if (opened?.input) await this.abandon(upload, opened.input);
      throw err;
    });
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

  /**
   * Removes an upload this request opened and could not store a byte into, and gives its input back
   * as it was (an added input is deleted), unless another chunk of the file was stored meanwhile.
   */
  private async abandon(upload: Upload, input: OpenedInput): Promise<void> {
    await this.chunks
      .discardUnused(upload.id, async (tx) => {
        if (input.added) await tx.input.deleteMany({ where: { id: input.id, status: 'uploading' } });
        else
          await tx.input.updateMany({
            where: { id: input.id, status: 'uploading' },
            data: { status: 'pending', filename: input.filename, size: input.size },
          });
      })
      .catch(() => undefined); // best effort: the refusal is the answer; expiry removes what is left
  }

  /**
   * The first chunk of a file opens its upload (and claims its input) under a per-job lock. `input`
   * is what opening changed in the input; null when another request opened the upload first.
   */
  private async open(
    jobId: string,
    ownerKeyHash: string,
    clientId: string,
    range: ChunkRange,
    request: JobChunkRequest,
  ): Promise<{ upload: Upload; input: OpenedInput | null }> {
    const total = range.total;
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
      if (existing) return { upload: existing, input: null };
      const filename = name ? parseFilename(headerFilename(name), 'X-File-Name') : undefined;
      let added = false;
      const input = await claimUploadInput(tx, jobId, request.inputId, filename, async () => {
        await this.quotas.assertJobUnits(tx, jobId, { inputs: 1 });
        added = true;
      });
      const finalName = filename ?? input.filename ?? 'file';
      await tx.input.update({ where: { id: input.id }, data: { filename: finalName, size: BigInt(total) } });
      await this.quotas.admitUpload(tx, ownerKeyHash, total, 'Content-Range');
      // What the chunk store checks before reading a byte, checked before the upload is opened.
      this.chunks.checkRange({ size: BigInt(total) }, range, request.contentLength);
      parseChunkDigest(request.contentDigest, request.chunkSha256);
      const opened: OpenedInput = { id: input.id, added, filename: input.filename, size: input.size };
      const upload = await tx.upload.create({
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
      return { upload, input: opened };
    });
  }
}
