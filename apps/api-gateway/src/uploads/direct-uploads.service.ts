import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import {
  KilnError,
  type DirectPartView,
  type ErrorDetail,
  type SignedPartView,
  type UploadModesView,
} from '@kiln/contracts';
import { PRISMA, type PrismaClient, type Upload } from '@kiln/database';
import { KilnMetrics, LOGGER, type Logger } from '@kiln/observability';
import { OBJECT_STORE, S3_MAX_PARTS, S3_MIN_PART_SIZE, objectKeys, type ObjectStore } from '@kiln/storage';
import { ChunkStore, firstMissingByte, mergeRanges } from '@kiln/uploads';
import type { Principal } from '../auth/principal';
import { parseOrThrow } from '../http/validation';
import { JobsService } from '../jobs/jobs.service';
import { createSessionBody } from './upload-sessions.schemas';
import { UploadSessionsService } from './upload-sessions.service';
import type { UploadView } from './upload-view';

/** Largest S3 part, and largest object one POST form stores. */
const S3_MAX_PART_SIZE = 5 * 1024 ** 3;

type DirectUpload = Upload & { directTransfer: 'form' | 'multipart' };

/**
 * Direct uploads (README "Direct uploads"): the client sends the file's bytes straight to S3 with
 * URLs the gateway presigns, and the gateway only keeps the books. A session is a presigned POST form
 * (one object of exactly the declared size) or an S3 multipart upload started here, whose parts the
 * client PUTs to presigned URLs that sign their Content-Length. Completing records what S3 holds as the
 * upload's chunk rows (parts with their numbers and ETags, or the form's one object) and hands the
 * upload to the path every proxied upload takes: the assembler completes the multipart upload (or
 * copies the object), verifies a declared SHA-256, makes the input ready and starts the job. Aborting
 * and expiry go through the same ChunkStore.discard / maintenance as proxied sessions (the multipart
 * upload aborted, the form object removed).
 */
@Injectable()
export class DirectUploadsService implements OnApplicationBootstrap {
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly sessions: UploadSessionsService,
    private readonly chunks: ChunkStore,
    private readonly jobs: JobsService,
    @Inject(KilnMetrics) private readonly metrics: KilnMetrics,
  ) {}

  /** The bucket's CORS rule, so that a web page may PUT parts and POST forms (ETag exposed). */
  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.KILN_DIRECT_UPLOADS) return;
    try {
      await this.store.putBucketCors(this.config.KILN_S3_CORS_ORIGINS);
    } catch (err: unknown) {
      // An external S3 may not let Kiln's credentials change the bucket: README shows the rule to put.
      this.log.warn({ err: String(err) }, 'could not put the bucket CORS rule for direct uploads from browsers');
    }
  }

  modes(): UploadModesView {
    if (!this.config.KILN_DIRECT_UPLOADS) return { modes: ['proxied'], default: 'proxied', recommended: 'proxied' };
    return {
      modes: ['direct', 'proxied'],
      default: 'proxied',
      recommended: 'direct',
      direct: {
        part_size: this.config.KILN_DIRECT_PART_SIZE,
        part_size_min: S3_MIN_PART_SIZE,
        max_parts: S3_MAX_PARTS,
        form_max: this.config.KILN_DIRECT_FORM_MAX,
        url_ttl_seconds: this.config.KILN_DIRECT_URL_TTL_SECONDS,
      },
    };
  }

  /** POST /v1/uploads with `mode: "direct"` (forced here). */
  async create(principal: Principal, body: unknown, origin: string): Promise<UploadView> {
    if (!this.config.KILN_DIRECT_UPLOADS)
      throw new KilnError('invalid_input', 'Invalid body: mode: direct uploads are not offered by this server', [
        { field: 'mode', message: 'direct uploads are off (GET /v1/uploads/modes)' },
      ]);
    const raw = body && typeof body === 'object' && !Array.isArray(body) ? body : {};
    const spec = parseOrThrow(createSessionBody, { ...raw, mode: 'direct' });
    // A part size asks for parts; otherwise the size decides (KILN_DIRECT_FORM_MAX).
    const transfer =
      spec.transfer ??
      (spec.part_size === undefined && spec.size <= this.config.KILN_DIRECT_FORM_MAX ? 'form' : 'multipart');
    if (transfer === 'form' && spec.part_size !== undefined)
      throw new KilnError('invalid_input', 'Invalid body: part_size: only for transfer "multipart"', [
        { field: 'part_size', message: 'only for transfer "multipart"' },
      ]);
    if (transfer === 'form' && spec.size > S3_MAX_PART_SIZE)
      throw new KilnError(
        'invalid_input',
        `Invalid body: transfer: a form upload holds at most ${S3_MAX_PART_SIZE} bytes`,
        [{ field: 'transfer', message: `"form" takes at most ${S3_MAX_PART_SIZE} bytes; use "multipart"` }],
      );
    const partSize =
      transfer === 'multipart'
        ? Math.max(spec.part_size ?? this.config.KILN_DIRECT_PART_SIZE, Math.ceil(spec.size / S3_MAX_PARTS))
        : null;
    if (partSize !== null && partSize > S3_MAX_PART_SIZE)
      throw new KilnError(
        'payload_too_large',
        `The file has ${spec.size} bytes; S3 takes at most 10,000 parts of 5 GiB.`,
        [{ field: 'size', message: 'too large for 10,000 parts of 5 GiB' }],
      );
    const upload = await this.sessions.open(principal, spec, async (id, filename) => {
      if (transfer === 'form') return { data: { directTransfer: 'form' }, undo: async () => undefined };
      const key = objectKeys.upload(id, filename);
      const multipartId = await this.store.createMultipart(key, { contentType: spec.content_type });
      return {
        data: { directTransfer: 'multipart', directPartSize: BigInt(partSize!), multipartId, multipartKey: key },
        undo: () => this.store.abortMultipart(key, multipartId),
      };
    });
    this.metrics.directUploads.inc({ transfer, event: 'opened' });
    return this.view(upload as DirectUpload, origin, { sign: true });
  }

  /** POST /v1/uploads/{id}/parts: presigned UploadPart URLs, each signing its part's exact length. */
  async signParts(
    principal: Principal,
    id: string,
    partNumbers: number[],
  ): Promise<{ parts: SignedPartView[]; expires_at: number }> {
    const upload = await this.loadDirect(principal, id);
    if (upload.directTransfer !== 'multipart' || !upload.multipartId || !upload.multipartKey)
      throw new KilnError('conflict', 'This direct session is a form upload: POST the file to form_post_url.');
    if (upload.status !== 'uploading')
      throw new KilnError('conflict', `The upload is ${upload.status} and takes no new bytes.`);
    if (upload.jobId) {
      const job = await this.prisma.job.findUnique({ where: { id: upload.jobId }, select: { id: true, status: true } });
      if (job) this.jobs.assertAccepting(job);
    }
    const count = partCount(upload);
    const bad = checkPartNumbers(partNumbers, count);
    if (bad) throw bad;
    const { seconds, expiresAt } = this.urlExpiry(upload);
    const parts = await Promise.all(
      partNumbers.map(async (n): Promise<SignedPartView> => {
        const size = partLength(upload, n);
        return {
          part_number: n,
          size,
          url: await this.store.presignPart(upload.multipartKey!, upload.multipartId!, n, size, seconds),
          method: 'PUT',
          headers: { 'Content-Length': String(size) },
        };
      }),
    );
    this.metrics.directPartUrls.inc(parts.length);
    return { parts, expires_at: expiresAt };
  }

  /** The parts S3 holds (the resume list); once complete, the parts the upload was made of. */
  async listParts(principal: Principal, id: string): Promise<DirectPartView[]> {
    const upload = await this.loadDirect(principal, id);
    return this.heldParts(upload);
  }

  /**
   * GET /v1/uploads/{id}: a direct session's view (parts from ListParts); a form session still
   * uploading carries a freshly signed form (signing is local: no S3 request), so a client that lost
   * the first one resumes with this. Other sessions as before.
   */
  async get(principal: Principal, id: string, origin: string): Promise<UploadView> {
    const upload = await this.sessions.loadOwned(principal, id);
    if (!upload.directTransfer) return this.sessions.view(id, origin);
    return this.view(upload as DirectUpload, origin, { sign: upload.directTransfer === 'form' });
  }

  /**
   * POST /v1/uploads/{id}/complete: checks what S3 holds against the declared size (400 naming the
   * missing or wrong parts), records it as the upload's chunks and queues the assembly, as the last
   * chunk of a proxied upload does. Completing again answers the current state. Proxied sessions go
   * to UploadSessionsService.complete.
   */
  async complete(principal: Principal, id: string, origin: string): Promise<UploadView> {
    const upload = await this.sessions.loadOwned(principal, id);
    if (!upload.directTransfer) return this.sessions.complete(principal, id, origin);
    const direct = upload as DirectUpload;
    if (direct.status === 'failed')
      throw new KilnError('conflict', `The upload failed: ${direct.error ?? 'see its status'}.`);
    if (direct.status === 'uploading') {
      const transfer = direct.directTransfer;
      const pieces = await (transfer === 'form' ? this.formPiece(direct) : this.partPieces(direct)).catch(
        (err: unknown) => {
          if (err instanceof KilnError && err.code === 'invalid_input')
            this.metrics.directUploads.inc({ transfer, event: 'refused' });
          throw err;
        },
      );
      try {
        await this.chunks.recordChunks(direct.id, pieces);
        this.metrics.directUploads.inc({ transfer, event: 'completed' });
        this.metrics.directUploadBytes.inc({ transfer }, Number(direct.size));
      } catch (err: unknown) {
        // Another complete of the same upload recorded it first: answer the state it left.
        const now = await this.prisma.upload.findUnique({ where: { id }, select: { status: true } });
        if (!(err instanceof KilnError && err.code === 'conflict' && now?.status !== 'uploading')) throw err;
      }
    } else if (!direct.completedAt) {
      await this.chunks.queueAssembly(direct);
    }
    const now = await this.prisma.upload.findUniqueOrThrow({ where: { id } });
    return this.view(now as DirectUpload, origin);
  }

  /** The form's object, which must hold exactly the declared size. */
  private async formPiece(upload: DirectUpload) {
    const key = formKey(upload);
    const stored = await this.store.stat(key);
    const size = Number(upload.size);
    if (!stored)
      throw new KilnError('invalid_input', 'Nothing was uploaded yet: POST the file to form_post_url, then complete.', [
        { field: 'file', message: 'not uploaded' },
      ]);
    if (stored.size !== size)
      throw new KilnError(
        'invalid_input',
        `The uploaded file has ${stored.size} bytes, the session declared ${size}.`,
        [{ field: 'file', message: `${stored.size} bytes, expected ${size}` }],
      );
    return [{ start: 0, end: size - 1, objectKey: key, ...(stored.etag ? { etag: stored.etag } : {}) }];
  }

  /** Every part 1..part_count with its exact size, as ListParts shows them. */
  private async partPieces(upload: DirectUpload) {
    const held = await this.store.listParts(upload.multipartKey!, upload.multipartId!);
    const count = partCount(upload);
    const byNumber = new Map(held.map((p) => [p.partNumber, p]));
    const details: ErrorDetail[] = [];
    for (let n = 1; n <= count; n++) {
      const part = byNumber.get(n);
      const expected = partLength(upload, n);
      if (!part) details.push({ field: 'parts', message: `missing part ${n}`, part_number: n });
      else if (part.size !== expected)
        details.push({
          field: 'parts',
          message: `part ${n} has ${part.size} bytes, expected ${expected}`,
          part_number: n,
        });
    }
    const total = held.reduce((sum, p) => sum + p.size, 0);
    if (details.length || total !== Number(upload.size)) {
      if (!details.length)
        details.push({ field: 'size', message: `the parts hold ${total} bytes, the session declared ${upload.size}` });
      throw new KilnError(
        'invalid_input',
        `The parts S3 holds do not make the declared file (${details.length} problem(s)); send the missing parts, then complete again.`,
        details,
      );
    }
    return held.map((p) => {
      const start = (p.partNumber - 1) * Number(upload.directPartSize);
      return { start, end: start + p.size - 1, objectKey: null, etag: p.etag, partNumber: p.partNumber };
    });
  }

  private async heldParts(upload: DirectUpload): Promise<DirectPartView[]> {
    if (upload.directTransfer !== 'multipart') return [];
    if (upload.status === 'uploading' && upload.multipartId && upload.multipartKey) {
      const held = await this.store.listParts(upload.multipartKey, upload.multipartId);
      return held.map((p) => ({ part_number: p.partNumber, size: p.size, etag: p.etag }));
    }
    const rows = await this.prisma.uploadChunk.findMany({
      where: { uploadId: upload.id, partNumber: { not: null } },
      orderBy: { partNumber: 'asc' },
    });
    return rows.map((c) => ({ part_number: c.partNumber!, size: Number(c.end - c.start) + 1, etag: c.etag ?? '' }));
  }

  private async loadDirect(principal: Principal, id: string): Promise<DirectUpload> {
    const upload = await this.sessions.loadOwned(principal, id);
    if (!upload.directTransfer)
      throw new KilnError('conflict', 'This is not a direct upload session: PUT its chunks to its location.');
    return upload as DirectUpload;
  }

  /** URL lifetime: KILN_DIRECT_URL_TTL_SECONDS, and never past the session's own expiry. */
  private urlExpiry(upload: Upload): { seconds: number; expiresAt: number } {
    const nowS = Math.floor(Date.now() / 1000);
    let seconds = this.config.KILN_DIRECT_URL_TTL_SECONDS;
    if (upload.expiresAt) seconds = Math.min(seconds, Math.floor(upload.expiresAt.getTime() / 1000) - nowS);
    seconds = Math.max(seconds, 1);
    return { seconds, expiresAt: nowS + seconds };
  }

  /** The view of a direct session: the usual one, its received bytes from what S3 holds, and how to send. */
  private async view(upload: DirectUpload, origin: string, options: { sign?: boolean } = {}): Promise<UploadView> {
    const base = await this.sessions.view(upload.id, origin);
    const size = Number(upload.size);
    const view: UploadView = { ...base, mode: 'direct', transfer: upload.directTransfer };
    if (upload.directTransfer === 'form') {
      if (upload.status === 'uploading') {
        const stored = await this.store.stat(formKey(upload));
        const whole = stored?.size === size;
        Object.assign(view, {
          received: whole ? [[0, size - 1]] : [],
          received_bytes: whole ? size : 0,
          offset: whole ? size : 0,
        });
        if (options.sign) {
          const { seconds } = this.urlExpiry(upload);
          const post = await this.store.presignPost(formKey(upload), {
            size,
            contentType: upload.contentType ?? undefined,
            expirySeconds: seconds,
          });
          Object.assign(view, {
            form_post_url: post.url,
            form_post_params: post.fields,
            form_post_expires_at: post.expiresAt,
          });
        }
      }
      return view;
    }
    const parts = await this.heldParts(upload);
    const partSize = Number(upload.directPartSize);
    if (upload.status === 'uploading') {
      const ranges = parts
        .filter((p) => p.size === partLength(upload, p.part_number))
        .map((p) => ({ start: (p.part_number - 1) * partSize, end: (p.part_number - 1) * partSize + p.size - 1 }));
      view.received = mergeRanges(ranges);
      view.received_bytes = ranges.reduce((n, r) => n + r.end - r.start + 1, 0);
      view.offset = firstMissingByte(ranges, size);
    }
    return {
      ...view,
      part_size: partSize,
      part_count: partCount(upload),
      parts,
      parts_url: `${base.location}/parts`,
    };
  }
}

/** The one object a form session's POST stores (under the upload's chunk prefix: assembled, aborted and expired as a chunk). */
function formKey(upload: Pick<Upload, 'id' | 'size'>): string {
  return objectKeys.chunk(upload.id, 0, Math.max(Number(upload.size) - 1, 0), 'form');
}

function partCount(upload: Pick<Upload, 'size' | 'directPartSize'>): number {
  return Math.ceil(Number(upload.size) / Number(upload.directPartSize));
}

/** Part n (1-based) covers bytes (n-1)·part_size .. min(n·part_size, size)-1. */
function partLength(upload: Pick<Upload, 'size' | 'directPartSize'>, n: number): number {
  const partSize = Number(upload.directPartSize);
  return Math.min(n * partSize, Number(upload.size)) - (n - 1) * partSize;
}

function checkPartNumbers(numbers: unknown, count: number): KilnError | null {
  const problem = (message: string) =>
    new KilnError('invalid_input', `Invalid body: part_numbers: ${message}`, [{ field: 'part_numbers', message }]);
  if (!Array.isArray(numbers) || numbers.length < 1 || numbers.length > 1000) return problem('1 to 1000 part numbers');
  const wrong = numbers.find((n) => !Number.isInteger(n) || n < 1 || n > count);
  if (wrong !== undefined) return problem(`part ${String(wrong)} is not between 1 and ${count} (part_count)`);
  if (new Set(numbers).size !== numbers.length) return problem('each part number once');
  return null;
}
