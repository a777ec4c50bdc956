import { Inject, Injectable } from '@nestjs/common';
import busboy from 'busboy';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KIND_HEAD_BYTES, KilnError, detectInputKind, headerFilename, parseFilename } from '@kiln/contracts';
import { PRISMA, type PrismaClient } from '@kiln/database';
import { LOGGER, KilnMetrics, type Logger } from '@kiln/observability';
import { OBJECT_STORE, objectKeys, type HashedPutResult, type ObjectStore } from '@kiln/storage';
import { claimUploadInput } from '@kiln/uploads';
import { inputView, type InputView, JobLifecycle } from '@kiln/workflow';
import type { Principal } from '../auth/principal';
import { KeyQuotas } from '../limits/key-quotas.service';
import { JobsService } from '../jobs/jobs.service';

const MULTIPART_OVERHEAD = 64 * 1024;

/** A whole file as stored: its key, size, sha256 and head (its kind is read from it), with its name and type. */
type StoredFile = HashedPutResult & { filename: string; contentType: string };

export interface WholeFileResult {
  input: InputView;
  complete: true;
}

/**
 * `POST /v1/jobs/{id}/upload` with a whole file: multipart/form-data (`file` field) or a raw body
 * with `X-File-Name`. The body is streamed into storage as it arrives (hashing on the way); nothing
 * holds the file in memory. It reads the request's headers as sent and its body as a stream.
 */
@Injectable()
export class WholeFileUploadService {
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly jobs: JobsService,
    private readonly lifecycle: JobLifecycle,
    @Inject(KilnMetrics) private readonly metrics: KilnMetrics,
    private readonly quotas: KeyQuotas,
  ) {}

  async upload(
    principal: Principal,
    jobId: string,
    headers: IncomingHttpHeaders,
    body: Readable,
  ): Promise<WholeFileResult> {
    const header = (name: string) => headerValue(headers, name);
    const job = await this.jobs.loadOwnedRow(principal, jobId);
    this.jobs.assertAccepting(job);
    const max = this.config.KILN_MAX_FILE_SIZE;
    const declared = header('content-length') !== undefined ? Number(header('content-length')) : undefined;
    const isMultipart = /^multipart\/form-data/i.test(header('content-type') ?? '');
    if (declared !== undefined && declared > max + (isMultipart ? MULTIPART_OVERHEAD : 0)) {
      throw new KilnError('payload_too_large', `The file is larger than the limit of ${max} bytes.`, [
        { field: 'Content-Length', message: `at most ${max} bytes`, limit: max },
      ]);
    }
    // The storage quota: a declared size must fit; a file of unknown size is cut where the quota ends.
    const fileBytes = Math.max(0, (declared ?? 0) - (isMultipart ? MULTIPART_OVERHEAD : 0));
    const quota = await this.quotas.storageRoom(principal.ownerKeyHash, fileBytes, 'Content-Length');
    const limit = Math.min(max, quota.room);
    if (!isMultipart) rawUploadFilename(header('x-file-name')); // a missing or bad name is a 400 before any input is claimed
    const requestedInput = header('x-input-id');
    let newInput = false;
    const input = await claimUploadInput(this.prisma, job.id, requestedInput, undefined, async () => {
      await this.quotas.assertJobUnits(this.prisma, job.id, { inputs: 1 });
      newInput = true;
    });
    try {
      const stored = await this.metrics
        .trackUpload(() =>
          isMultipart
            ? this.fromMultipart(headers, body, job.id, input.id, limit)
            : this.fromRaw(headers, body, job.id, input.id, limit, declared),
        )
        .catch((err: unknown) => {
          if (!(limit < max && err instanceof KilnError && err.code === 'payload_too_large')) throw err;
          throw this.quotas.quotaError(quota.used, fileBytes, 'Content-Length', quota.quota); // cut at the storage quota
        });
      this.metrics.uploadBytesReceived.inc({ kind: 'whole' }, stored.size);
      // The kind from the head kept on the way (input-kinds.ts reads it back for inputs stored otherwise).
      const kind =
        stored.size > 0 && stored.head
          ? (detectInputKind(stored.head, stored.filename) ?? { kind: null, format: 'unknown' })
          : {};
      const ready = await this.prisma.input.update({
        where: { id: input.id },
        data: {
          status: 'ready',
          filename: stored.filename,
          size: BigInt(stored.size),
          contentType: stored.contentType,
          checksumSha256: stored.sha256,
          objectKey: stored.key,
          readyAt: new Date(),
          error: null,
          ...kind,
        },
      });
      // The file is stored and recorded: a queue outage now must not fail the upload. The job is
      // queued in PostgreSQL and the assembler's maintenance run sends its units again.
      await this.lifecycle
        .startIfReady(job.id, { kindRead: 'kind' in kind })
        .catch((err: unknown) =>
          this.log.warn({ jobId: job.id, err: String(err) }, 'job start deferred: queue unavailable'),
        );
      return { input: inputView(ready), complete: true };
    } catch (err: unknown) {
      // A refused file leaves nothing behind: an input added for it is removed, a waiting input it
      // claimed waits again (the store never completes an object from a refused body).
      const claimed = { id: input.id, status: 'uploading' as const };
      await (newInput
        ? this.prisma.input.deleteMany({ where: claimed })
        : this.prisma.input.updateMany({ where: claimed, data: { status: 'pending' } })
      ).catch(() => undefined);
      throw err;
    }
  }

  private async fromRaw(
    headers: IncomingHttpHeaders,
    body: Readable,
    jobId: string,
    inputId: string,
    max: number,
    size: number | undefined,
  ) {
    const filename = rawUploadFilename(headerValue(headers, 'x-file-name'));
    const contentType =
      (headerValue(headers, 'content-type') ?? 'application/octet-stream').split(';')[0].trim() ||
      'application/octet-stream';
    const key = objectKeys.input(jobId, inputId, filename);
    const put = await this.store.put(key, body, { size, contentType, maxBytes: max, keepHead: KIND_HEAD_BYTES });
    return { ...put, filename, contentType };
  }

  private fromMultipart(headers: IncomingHttpHeaders, body: Readable, jobId: string, inputId: string, max: number) {
    return new Promise<StoredFile>((resolve, reject) => {
      let bb: busboy.Busboy;
      try {
        // preservePath: a name with a path is refused like any other bad name, not cut silently.
        bb = busboy({
          headers,
          preservePath: true,
          limits: { files: 1, fileSize: max + 1, fields: 20, fieldSize: 64 * 1024, parts: 30 },
        });
      } catch (err: unknown) {
        reject(
          new KilnError(
            'invalid_input',
            `Malformed multipart body: ${err instanceof Error ? err.message : String(err)}`,
            [{ field: 'Content-Type', message: 'bad multipart boundary' }],
          ),
        );
        return;
      }
      let settled = false;
      let storing: Promise<unknown> | undefined;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        body.unpipe(bb); // the error filter drains or closes what is left
        reject(err);
      };
      bb.on('file', (field: string, stream: Readable, info: busboy.FileInfo) => {
        if (field !== 'file' || storing) {
          stream.resume();
          return;
        }
        let filename: string;
        try {
          filename = info.filename ? parseFilename(info.filename, 'file.filename') : 'file';
        } catch (err: unknown) {
          storing = Promise.resolve(); // no later part is stored either
          stream.resume();
          fail(err);
          return;
        }
        const contentType = info.mimeType || 'application/octet-stream';
        const key = objectKeys.input(jobId, inputId, filename);
        storing = this.store.put(key, stream, { contentType, maxBytes: max, keepHead: KIND_HEAD_BYTES }).then(
          (put) => {
            if (settled) return;
            settled = true;
            resolve({ ...put, filename, contentType });
          },
          (err: unknown) => {
            stream.resume();
            fail(err);
          },
        );
      });
      bb.on('error', (err: unknown) =>
        fail(
          new KilnError(
            'invalid_input',
            `Malformed multipart body: ${err instanceof Error ? err.message : String(err)}`,
            [{ field: 'body', message: 'malformed multipart' }],
          ),
        ),
      );
      bb.on('close', () => {
        if (!storing)
          fail(
            new KilnError('invalid_input', 'The multipart body has no "file" field.', [
              { field: 'file', message: 'required' },
            ]),
          );
      });
      body.on('aborted', () => fail(new KilnError('invalid_input', 'The upload was interrupted.')));
      body.pipe(bb);
    }).catch((err: unknown) => {
      this.log.debug(
        { jobId, inputId, err: err instanceof Error ? err.message : String(err) },
        'multipart upload failed',
      );
      throw err;
    });
  }
}

/** The name of a raw upload: X-File-Name, percent-decoded, as the client states it (400 when missing or bad). */
function rawUploadFilename(name: string | undefined): string {
  if (!name) {
    throw new KilnError(
      'invalid_input',
      'A raw upload needs an X-File-Name header (or send multipart/form-data with a file field).',
      [{ field: 'X-File-Name', message: 'required' }],
    );
  }
  return parseFilename(headerFilename(name), 'X-File-Name');
}

/** One header's value as sent (the first, when repeated); Node lower-cases the names. */
function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
