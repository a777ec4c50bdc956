import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { KilnError, type HandlerOutcome, type PayloadOf } from '@kiln/contracts';
import { PRISMA, type PrismaClient, type Upload, type UploadChunk } from '@kiln/database';
import { LOGGER, KilnMetrics, type Logger } from '@kiln/observability';
import { QueueProducer, type HandlerContext, type JobHandler } from '@kiln/queue';
import {
  OBJECT_STORE,
  S3_MAX_PARTS,
  S3_MIN_PART_SIZE,
  isStorageOutage,
  objectKeys,
  type ObjectStore,
} from '@kiln/storage';
import { TUS_CONCAT_FINAL, coversExactly } from '@kiln/uploads';
import { JobLifecycle } from '@kiln/workflow';
import { ConcatAssembly } from './tus-concat-assembly';
import { recordAssembled } from './assembled-record';

/** Where an upload's bytes end up: a job's input, or a standalone session's own object. */
export function assembledKey(upload: Pick<Upload, 'id' | 'jobId' | 'inputId' | 'filename'>): string {
  return upload.jobId && upload.inputId
    ? objectKeys.input(upload.jobId, upload.inputId, upload.filename)
    : objectKeys.upload(upload.id, upload.filename);
}

/** Server-side compose is possible when every chunk but the last is a valid S3 part (≥ 5 MiB). */
export function canComposeServerSide(chunks: readonly { start: bigint; end: bigint }[]): boolean {
  if (chunks.length > S3_MAX_PARTS) return false;
  return chunks.slice(0, -1).every((c) => Number(c.end - c.start) + 1 >= S3_MIN_PART_SIZE);
}

/** The chunk objects read one after another as one stream (bounded: one chunk stream open at a time). */
export function concatenated(store: ObjectStore, keys: string[]): Readable {
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  void (async () => {
    for (const key of keys) await pipeline(await store.get(key), out, { end: false });
    out.end();
  })().catch((err: unknown) => out.destroy(err as Error));
  return out;
}

/**
 * Stitches an upload's chunks into one object once every byte is present: coverage checked from the
 * database rows; then, by how the chunks were stored,
 * - every chunk a multipart part: CompleteMultipartUpload (metadata only: no byte is copied or read);
 * - every chunk an object: server-side compose (S3 UploadPartCopy) when the chunks allow it, else a
 *   bounded stream through this process;
 * - a mix: the parts completed into one object, then a bounded stream in file order.
 * Size and (when declared) SHA-256 verified; chunk objects deleted; the input marked ready and the
 * job started if it should. Running it twice is harmless: a completed multipart upload is found
 * complete, a rewritten object comes from the same chunks, and a finished upload is skipped.
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
    @Optional() @Inject(QueueProducer) producer?: QueueProducer,
  ) {
    this.concat = new ConcatAssembly(prisma, store, log, lifecycle, producer, {
      assembledKey,
      canCompose: canComposeServerSide,
      concatenated,
      fail: (upload, message, code) => this.fail(upload, message, code),
    });
  }

  /** tus concatenation: partial uploads queue their final; a final is assembled from its partials. */
  private readonly concat: ConcatAssembly;

  /** Counted in kiln_assemblies_total{mode, outcome} once the mode is known (skips are not counted). */
  async handle(payload: PayloadOf<'assemble'>, ctx: HandlerContext): Promise<HandlerOutcome> {
    const labels: { mode?: 'multipart' | 'compose' | 'stream' } = {};
    try {
      const outcome = await this.assemble(payload, ctx, labels);
      if (labels.mode && outcome.status !== 'skipped')
        this.metrics?.assemblies.inc({ mode: labels.mode, outcome: outcome.status });
      return outcome;
    } catch (err: unknown) {
      if (labels.mode) this.metrics?.assemblies.inc({ mode: labels.mode, outcome: 'error' });
      if (ctx.isLastAttempt && !isStorageOutage(err))
        await this.giveUp(payload.uploadId, ctx.attempt, err).catch((e: unknown) =>
          this.log.error({ uploadId: payload.uploadId, err: String(e) }, 'could not record the given-up assembly'),
        );
      throw err;
    }
  }

  /**
   * The last attempt failed on an error that another attempt would meet again (a chunk object
   * gone, an assembled object of the wrong size): the upload and the job's input fail with the
   * reason, as an infrastructure failure (`internal`), and the job ends instead of waiting forever.
   * Not after a storage outage (S3 answering 5xx, unreachable): the upload stays `complete` and the
   * reconciler queues its assembly again, so it completes once S3 is back.
   */
  private async giveUp(uploadId: string, attempts: number, err: unknown): Promise<void> {
    const upload = await this.prisma.upload.findUnique({ where: { id: uploadId } });
    if (!upload || upload.completedAt || upload.status !== 'complete') return;
    const reason = err instanceof Error ? err.message : String(err);
    await this.fail(upload, `assembly failed after ${attempts} attempts: ${reason}`, 'internal');
    this.log.error({ uploadId, jobId: upload.jobId, attempts, err: reason }, 'upload assembly given up');
  }

  private async assemble(
    { uploadId }: PayloadOf<'assemble'>,
    _ctx: HandlerContext,
    labels: { mode?: 'multipart' | 'compose' | 'stream' },
  ): Promise<HandlerOutcome> {
    const upload = await this.prisma.upload.findUnique({
      where: { id: uploadId },
      include: { chunks: { orderBy: { start: 'asc' } }, job: { select: { status: true } } },
    });
    if (!upload) return { status: 'skipped', reason: 'upload no longer exists' };
    if (upload.job?.status === 'canceled' || upload.job?.status === 'canceling')
      return { status: 'skipped', reason: 'job canceled' };
    if (upload.tusConcat === TUS_CONCAT_FINAL) return this.concat.assembleFinal(upload, labels);
    if (upload.completedAt) {
      await this.store.removePrefix(objectKeys.uploadChunks(upload.id));
      if (upload.jobId) await this.lifecycle.startIfReady(upload.jobId); // a retry after an outage
      await this.concat.partialAssembled(upload);
      return { status: 'skipped', reason: 'already assembled' };
    }
    if (upload.status !== 'complete') return { status: 'skipped', reason: `upload is ${upload.status}` };
    const size = Number(upload.size);
    if (
      !coversExactly(
        upload.chunks.map((c) => ({ start: Number(c.start), end: Number(c.end) })),
        size,
      )
    ) {
      return this.fail(upload, 'the stored chunks do not cover the file exactly (gap or overlap)');
    }

    const chunks: UploadChunk[] = upload.chunks;
    const parts = chunks.filter((c) => c.partNumber !== null);
    const multipart =
      upload.multipartId && upload.multipartKey ? { id: upload.multipartId, key: upload.multipartKey } : null;
    if (parts.length && !multipart) return this.fail(upload, 'the upload has parts but no multipart upload');
    let target = assembledKey(upload);
    let sha256: string | null = null;
    const started = Date.now();
    if (parts.length) {
      const done = await this.completeParts(upload, multipart!, parts, parts.length === chunks.length ? size : null);
      if ('status' in done) return done;
      if (parts.length === chunks.length && done.exact) {
        // Every chunk is a part: completing the multipart upload was the assembly; no byte copied.
        labels.mode = 'multipart';
        target = multipart!.key;
      } else {
        // Chunk objects too (or stray parts): the completed parts are read back by range and
        // streamed with the chunk objects in file order.
        labels.mode = 'stream';
        if (target === multipart!.key) target = objectKeys.assembledUpload(upload.id, upload.filename);
        const put = await this.store.put(target, this.mixed(chunks, multipart!.key, done.offsets), {
          size,
          contentType: upload.contentType ?? undefined,
        });
        sha256 = put.sha256;
        await this.store.remove(multipart!.key);
      }
    } else {
      if (multipart) await this.store.abortMultipart(multipart.key, multipart.id); // started, never used
      const keys = chunks.map((c) => c.objectKey!);
      if (canComposeServerSide(chunks)) {
        labels.mode = 'compose';
        await this.store.compose(target, keys);
      } else {
        labels.mode = 'stream';
        const put = await this.store.put(target, concatenated(this.store, keys), {
          size,
          contentType: upload.contentType ?? undefined,
        });
        sha256 = put.sha256;
      }
    }
    const serverSide = labels.mode !== 'stream';
    const stored = await this.store.stat(target);
    if (!stored || stored.size !== size)
      throw new Error(`assembled object has ${stored?.size ?? 'no'} bytes, expected ${size}`);

    if (upload.checksumSha256) {
      sha256 ??= await this.hashObject(target);
      if (sha256 !== upload.checksumSha256) {
        await this.store.remove(target);
        await this.store.removePrefix(objectKeys.uploadChunks(upload.id));
        return this.fail(
          upload,
          `checksum mismatch: the assembled file's sha256 is ${sha256}, the upload declared ${upload.checksumSha256}`,
        );
      }
    }
    const owner = await recordAssembled(this.prisma, upload, target, sha256);
    await this.store.removePrefix(objectKeys.uploadChunks(upload.id));
    if (owner.jobId) await this.lifecycle.startIfReady(owner.jobId);
    await this.concat.partialAssembled(upload);
    const ms = Date.now() - started;
    this.log.info(
      {
        uploadId,
        jobId: upload.jobId,
        chunks: chunks.length,
        parts: parts.length,
        size,
        mode: labels.mode,
        serverSide,
        ms,
      },
      'upload assembled',
    );
    return {
      status: 'success',
      detail: `${chunks.length} chunks (${parts.length} as parts), ${size} bytes, ${labels.mode} in ${ms} ms`,
    };
  }

  /**
   * Completes the upload's multipart upload. Normally the recorded parts are exactly the uploaded
   * ones. A part can also have been uploaded and then not recorded (its digest did not match, or
   * its range was refused under the lock); such a stray part cannot be deleted, and a server such
   * as radosgw refuses a completion that leaves it out. Then every uploaded part is completed and
   * the recorded ones are read back from their offsets (`exact: false`). A retry after a crash
   * finds the upload completed already: the object with the expected size counts as done.
   * Returns a failed outcome when the recorded parts are not on the server as recorded.
   */
  private async completeParts(
    upload: Upload,
    multipart: { id: string; key: string },
    parts: UploadChunk[],
    expectedSize: number | null,
  ): Promise<HandlerOutcome | { exact: boolean; offsets: Map<number, number> }> {
    const recorded = [...parts]
      .sort((a, b) => a.partNumber! - b.partNumber!)
      .map((c) => ({ partNumber: c.partNumber!, etag: c.etag!, size: Number(c.end - c.start) + 1 }));
    const offsets = (list: { partNumber: number; size: number }[]) => {
      const map = new Map<number, number>();
      let at = 0;
      for (const p of list) {
        map.set(p.partNumber, at);
        at += p.size;
      }
      return map;
    };
    const refused = (why: string) => this.fail(upload, `the storage server refused the stored parts (${why})`);
    try {
      await this.store.completeMultipart(multipart.key, multipart.id, recorded);
      return { exact: true, offsets: offsets(recorded) };
    } catch (err: unknown) {
      const partBytes = recorded.reduce((n, p) => n + p.size, 0);
      const done = await this.store.stat(multipart.key);
      if (done && done.size === (expectedSize ?? partBytes)) return { exact: true, offsets: offsets(recorded) };
      if (!(err instanceof KilnError)) throw err;
      if (err.code === 'unprocessable') return refused(err.message);
      if (err.code !== 'conflict') throw err;
    }
    // Stray parts: complete with every uploaded part, if the recorded ones are among them unchanged.
    const uploaded = await this.store.listParts(multipart.key, multipart.id);
    const byNumber = new Map(uploaded.map((p) => [p.partNumber, p]));
    const changed = recorded.find((p) => byNumber.get(p.partNumber)?.etag !== p.etag);
    if (changed) return refused(`part ${changed.partNumber} is missing or holds other bytes`);
    try {
      await this.store.completeMultipart(multipart.key, multipart.id, uploaded);
    } catch (err: unknown) {
      if (err instanceof KilnError && (err.code === 'conflict' || err.code === 'unprocessable'))
        return refused(err.message);
      throw err;
    }
    this.log.warn(
      { uploadId: upload.id, strays: uploaded.length - recorded.length },
      'upload had parts that were sent but not kept; reading the kept ones back',
    );
    return { exact: uploaded.length === recorded.length, offsets: offsets(uploaded) };
  }

  /** Chunks in file order: parts read back by range from the object their completion made (at `offsets`), the rest from their own objects. */
  private mixed(chunks: UploadChunk[], partsKey: string, offsets: Map<number, number>): Readable {
    const out = new PassThrough({ highWaterMark: 1024 * 1024 });
    const store = this.store;
    void (async () => {
      for (const c of chunks) {
        const length = Number(c.end - c.start) + 1;
        if (c.partNumber !== null) {
          const at = offsets.get(c.partNumber)!;
          await pipeline(await store.getRange(partsKey, at, at + length - 1), out, { end: false });
        } else {
          await pipeline(await store.get(c.objectKey!), out, { end: false });
        }
      }
      out.end();
    })().catch((err: unknown) => out.destroy(err as Error));
    return out;
  }

  private async hashObject(key: string): Promise<string> {
    const hash = createHash('sha256');
    for await (const chunk of await this.store.get(key)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  private async fail(upload: Upload, message: string, code = 'unprocessable'): Promise<HandlerOutcome> {
    await this.prisma.upload.update({ where: { id: upload.id }, data: { status: 'failed', error: message } });
    if (upload.jobId && upload.inputId) await this.lifecycle.failInput(upload.jobId, upload.inputId, message, code);
    return { status: 'failed', code, message };
  }
}
