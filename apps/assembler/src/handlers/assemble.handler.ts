import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Inject, Injectable, Optional } from '@nestjs/common';
import type { HandlerOutcome, PayloadOf } from '@kiln/contracts';
import type { PrismaClient, Upload, UploadChunk } from '@kiln/database';
import { KilnMetrics, type Logger } from '@kiln/observability';
import type { HandlerContext, JobHandler } from '@kiln/queue';
import { S3_MAX_PARTS, S3_MIN_PART_SIZE, type ObjectStore } from '@kiln/storage';
import { LOGGER, OBJECT_STORE, PRISMA } from '@kiln/worker-runtime';
import { JobLifecycle, coversExactly } from '@kiln/workflow';

/** Where an upload's bytes end up: a job's input, or a standalone session's own object. */
export function assembledKey(upload: Pick<Upload, 'id' | 'jobId' | 'inputId' | 'filename'>): string {
  return upload.jobId && upload.inputId ? `inputs/${upload.jobId}/${upload.inputId}/${upload.filename}` : `uploads/${upload.id}/${upload.filename}`;
}

/** Server-side compose is possible when every chunk but the last is a valid S3 part (≥ 5 MiB). */
export function canComposeServerSide(chunks: readonly { start: bigint; end: bigint }[]): boolean {
  if (chunks.length > S3_MAX_PARTS) return false;
  return chunks.slice(0, -1).every((c) => Number(c.end - c.start) + 1 >= S3_MIN_PART_SIZE);
}

/** The chunk objects read one after another as one stream (bounded: one chunk stream open at a time). */
function concatenated(store: ObjectStore, keys: string[]): Readable {
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  void (async () => {
    for (const key of keys) await pipeline(await store.get(key), out, { end: false });
    out.end();
  })().catch((err: unknown) => out.destroy(err as Error));
  return out;
}

/**
 * Stitches an upload's chunks into one object once every byte is present: coverage checked from the
 * database rows, server-side compose (S3 UploadPartCopy) when the chunks allow it, otherwise a
 * bounded stream through this process; size and (when declared) SHA-256 verified; chunk objects
 * deleted; the input marked ready and the job started if it should. Running it twice is harmless:
 * the result object is rewritten from the same chunks, and a finished upload is skipped.
 */
@Injectable()
export class AssembleHandler implements JobHandler<'assemble'> {
  readonly queue = 'assemble' as const;

  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly lifecycle: JobLifecycle,
    @Optional() @Inject(KilnMetrics) private readonly metrics?: KilnMetrics,
  ) {}

  /** Counted in kiln_assemblies_total{mode, outcome} once the mode is known (skips are not counted). */
  async handle(payload: PayloadOf<'assemble'>, ctx: HandlerContext): Promise<HandlerOutcome> {
    const labels: { mode?: 'compose' | 'stream' } = {};
    try {
      const outcome = await this.assemble(payload, ctx, labels);
      if (labels.mode && outcome.status !== 'skipped') this.metrics?.assemblies.inc({ mode: labels.mode, outcome: outcome.status });
      return outcome;
    } catch (err: unknown) {
      if (labels.mode) this.metrics?.assemblies.inc({ mode: labels.mode, outcome: 'error' });
      throw err;
    }
  }

  private async assemble({ uploadId }: PayloadOf<'assemble'>, _ctx: HandlerContext, labels: { mode?: 'compose' | 'stream' }): Promise<HandlerOutcome> {
    const upload = await this.prisma.upload.findUnique({ where: { id: uploadId }, include: { chunks: { orderBy: { start: 'asc' } }, job: { select: { status: true } } } });
    if (!upload) return { status: 'skipped', reason: 'upload no longer exists' };
    if (upload.job?.status === 'canceled') return { status: 'skipped', reason: 'job canceled' };
    if (upload.completedAt) {
      await this.store.removePrefix(`chunks/${upload.id}/`);
      if (upload.jobId) await this.lifecycle.startIfReady(upload.jobId); // a retry after an outage
      return { status: 'skipped', reason: 'already assembled' };
    }
    if (upload.status !== 'complete') return { status: 'skipped', reason: `upload is ${upload.status}` };
    labels.mode = canComposeServerSide(upload.chunks) ? 'compose' : 'stream';
    const size = Number(upload.size);
    if (!coversExactly(upload.chunks.map((c) => ({ start: Number(c.start), end: Number(c.end) })), size)) {
      return this.fail(upload, 'the stored chunks do not cover the file exactly (gap or overlap)');
    }

    const target = assembledKey(upload);
    const keys = upload.chunks.map((c: UploadChunk) => c.objectKey);
    const serverSide = canComposeServerSide(upload.chunks);
    let sha256: string | null = null;
    const started = Date.now();
    if (serverSide) {
      await this.store.compose(target, keys);
    } else {
      const put = await this.store.put(target, concatenated(this.store, keys), { size, contentType: upload.contentType ?? undefined });
      sha256 = put.sha256;
    }
    const stored = await this.store.stat(target);
    if (!stored || stored.size !== size) throw new Error(`assembled object has ${stored?.size ?? 'no'} bytes, expected ${size}`);

    if (upload.checksumSha256) {
      sha256 ??= await this.hashObject(target);
      if (sha256 !== upload.checksumSha256) {
        await this.store.remove(target);
        await this.store.removePrefix(`chunks/${upload.id}/`);
        return this.fail(upload, `checksum mismatch: the assembled file's sha256 is ${sha256}, the upload declared ${upload.checksumSha256}`);
      }
    }
    const now = new Date();
    // Under the upload's lock, reading its job and input again: a standalone upload may have been
    // attached to a job while it was being assembled (see the gateway's attachUpload).
    const owner = await this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`upload:${upload.id}`}, 0))`;
      const done = await tx.upload.update({ where: { id: upload.id }, data: { objectKey: target, completedAt: now }, select: { jobId: true, inputId: true } });
      if (done.inputId) {
        await tx.input.update({
          where: { id: done.inputId },
          data: {
            status: 'ready',
            filename: upload.filename,
            size: upload.size,
            contentType: upload.contentType,
            checksumSha256: sha256 ?? upload.checksumSha256,
            objectKey: target,
            readyAt: now,
            error: null,
          },
        });
      }
      return done;
    });
    await this.store.removePrefix(`chunks/${upload.id}/`);
    if (owner.jobId) await this.lifecycle.startIfReady(owner.jobId);
    const ms = Date.now() - started;
    this.log.info({ uploadId, jobId: upload.jobId, chunks: keys.length, size, serverSide, ms }, 'upload assembled');
    return { status: 'success', detail: `${keys.length} chunks, ${size} bytes, ${serverSide ? 'server-side compose' : 'streamed'} in ${ms} ms` };
  }

  private async hashObject(key: string): Promise<string> {
    const hash = createHash('sha256');
    for await (const chunk of await this.store.get(key)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  private async fail(upload: Upload, message: string): Promise<HandlerOutcome> {
    await this.prisma.upload.update({ where: { id: upload.id }, data: { status: 'failed', error: message } });
    if (upload.jobId && upload.inputId) await this.lifecycle.failInput(upload.jobId, upload.inputId, message, 'unprocessable');
    return { status: 'failed', code: 'unprocessable', message };
  }
}
