import { createHash } from 'node:crypto';
import type { HandlerOutcome } from '@kiln/contracts';
import type { PrismaClient, Upload } from '@kiln/database';
import type { Logger } from '@kiln/observability';
import type { QueueProducer } from '@kiln/queue';
import type { ObjectStore } from '@kiln/storage';
import { TUS_CONCAT_PARTIAL, concatPartials, finalReady, removeConcatPartials } from '@kiln/uploads';
import type { JobLifecycle } from '@kiln/workflow';
import { recordAssembled } from './assembled-record';

export interface ConcatHelpers {
  assembledKey: (upload: Upload) => string;
  canCompose: (pieces: { start: bigint; end: bigint }[]) => boolean;
  concatenated: (store: ObjectStore, keys: string[]) => NodeJS.ReadableStream;
  fail: (upload: Upload, message: string, code?: string) => Promise<HandlerOutcome>;
}

/**
 * The assembler's part of tus concatenation. A partial upload is assembled like any upload, into
 * its own object (it has no job or input); then, if it was the last partial of a final upload to
 * be assembled, the final's assembly is queued. The final's assembly concatenates the partials'
 * objects into its input object on the storage server (UploadPartCopy, when every partial but the
 * last has at least 5 MiB) or as one bounded stream through this process; size and declared
 * SHA-256 verified, input ready, job started, partials (objects and rows) removed.
 */
export class ConcatAssembly {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly store: ObjectStore,
    private readonly log: Logger,
    private readonly lifecycle: JobLifecycle,
    private readonly producer: QueueProducer | undefined,
    private readonly helpers: ConcatHelpers,
  ) {}

  /** After a partial is assembled (or found assembled again): queue its final when it completed it. */
  async partialAssembled(upload: Pick<Upload, 'id' | 'tusConcat'>): Promise<void> {
    if (upload.tusConcat !== TUS_CONCAT_PARTIAL) return;
    const current = await this.prisma.upload.findUnique({ where: { id: upload.id }, select: { concatFinalId: true } });
    if (!current?.concatFinalId) return;
    const final = await finalReady(this.prisma, current.concatFinalId);
    if (!final) return;
    if (final.jobId) await this.lifecycle.markDownloading(final.jobId);
    if (!this.producer) throw new Error('no queue producer to queue the final upload’s assembly');
    await this.producer.enqueue('assemble', { uploadId: final.id });
  }

  async assembleFinal(final: Upload, labels: { mode?: 'multipart' | 'compose' | 'stream' }): Promise<HandlerOutcome> {
    if (final.completedAt) {
      await this.removePartials(final);
      if (final.jobId) await this.lifecycle.startIfReady(final.jobId);
      return { status: 'skipped', reason: 'already assembled' };
    }
    if (final.status !== 'complete') return { status: 'skipped', reason: `upload is ${final.status}` };
    const partials = await concatPartials(this.prisma, final);
    const missing = final.concatParts.find((id) => !partials.some((p) => p.id === id && p.completedAt && p.objectKey));
    if (missing) return this.helpers.fail(final, `partial upload ${missing} is gone or not assembled`);
    const size = Number(final.size);
    const target = this.helpers.assembledKey(final);
    const keys = partials.map((p) => p.objectKey!);
    const started = Date.now();
    let sha256: string | null = null;
    if (this.helpers.canCompose(partials.map((p) => ({ start: 0n, end: p.size - 1n })))) {
      labels.mode = 'compose';
      await this.store.compose(target, keys);
    } else {
      labels.mode = 'stream';
      const put = await this.store.put(target, this.helpers.concatenated(this.store, keys) as never, {
        size,
        contentType: final.contentType ?? undefined,
      });
      sha256 = put.sha256;
    }
    const stored = await this.store.stat(target);
    if (!stored || stored.size !== size)
      throw new Error(`assembled object has ${stored?.size ?? 'no'} bytes, expected ${size}`);
    if (final.checksumSha256) {
      sha256 ??= await this.hashObject(target);
      if (sha256 !== final.checksumSha256) {
        await this.store.remove(target);
        await this.removePartials(final);
        return this.helpers.fail(
          final,
          `checksum mismatch: the assembled file's sha256 is ${sha256}, the upload declared ${final.checksumSha256}`,
        );
      }
    }
    const owner = await recordAssembled(this.prisma, final, target, sha256);
    await this.removePartials(final);
    if (owner.jobId) await this.lifecycle.startIfReady(owner.jobId);
    const ms = Date.now() - started;
    this.log.info(
      { uploadId: final.id, jobId: final.jobId, partials: partials.length, size, mode: labels.mode, ms },
      'final tus upload assembled from its partial uploads',
    );
    return {
      status: 'success',
      detail: `${partials.length} partial uploads, ${size} bytes, ${labels.mode} in ${ms} ms`,
    };
  }

  /** The partials of an assembled (or refused) final: their objects, chunk leftovers and rows. */
  private async removePartials(final: Upload): Promise<void> {
    await removeConcatPartials(this.prisma, this.store, final);
  }

  private async hashObject(key: string): Promise<string> {
    const hash = createHash('sha256');
    for await (const chunk of await this.store.get(key)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }
}
