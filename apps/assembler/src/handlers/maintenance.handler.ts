import { Inject, Injectable } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import type { HandlerOutcome, PayloadOf } from '@kiln/contracts';
import { IdempotencyStore, PRISMA, type PrismaClient } from '@kiln/database';
import { LOGGER, type Logger } from '@kiln/observability';
import type { JobHandler } from '@kiln/queue';
import { OBJECT_STORE, objectKeys, type ObjectStore } from '@kiln/storage';
import { JobLifecycle } from '@kiln/workflow';
import { JobRetention } from './job-retention';
import { OrphanSweep } from './orphan-sweep';

/** Multipart uploads older than this were abandoned (a crashed writer); S3 keeps their parts forever. */
export const STALE_MULTIPART_AGE_MS = 24 * 3600 * 1000;
/** A job queued for longer than this is checked for units lost on the way to Redis. */
export const REQUEUE_AFTER_MS = 60 * 1000;

/**
 * Housekeeping on a schedule: expired upload sessions and their chunks, abandoned multipart uploads,
 * expired jobs' data (job-retention.ts) and objects no row owns (orphan-sweep.ts).
 */
@Injectable()
export class MaintenanceHandler implements JobHandler<'maintenance'> {
  readonly queue = 'maintenance' as const;
  readonly retention: JobRetention;
  readonly orphans: OrphanSweep;

  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly lifecycle: JobLifecycle,
    @Inject(KILN_CONFIG) config: Pick<KilnConfig, 'KILN_JOB_RETENTION_SECONDS' | 'KILN_ORPHAN_MIN_AGE_SECONDS'>,
  ) {
    this.retention = new JobRetention(prisma, store, log, { retentionSeconds: config.KILN_JOB_RETENTION_SECONDS });
    this.orphans = new OrphanSweep(prisma, store, log, { minAgeSeconds: config.KILN_ORPHAN_MIN_AGE_SECONDS });
  }

  async handle(payload: PayloadOf<'maintenance'>): Promise<HandlerOutcome> {
    switch (payload.task) {
      case 'expire-uploads':
        return this.expireUploads();
      case 'requeue-queued':
        return this.requeueQueued();
      case 'expire-jobs': {
        const { deleted, failed } = await this.retention.run();
        // Idempotency keys past their 24 h go with the same run.
        const keys = await new IdempotencyStore(this.prisma).sweep();
        // A job that failed is retried by the next run; the others are done.
        return {
          status: 'success',
          detail: `${deleted.length} expired jobs deleted, ${failed.length} failed, ${keys} idempotency keys expired`,
        };
      }
      case 'sweep-orphans': {
        const { listed, deleted, foreign } = await this.orphans.run();
        return {
          status: 'success',
          detail: `${listed} objects listed, ${deleted} orphans deleted, ${foreign} keys not of Kiln's layout left`,
        };
      }
      case 'stale-multipart': {
        // Upload sessions keep their multipart upload (their parts) for as long as they live.
        const aborted = await this.store.abortStaleUploads(
          new Date(Date.now() - STALE_MULTIPART_AGE_MS),
          async ({ uploadId }) => (await this.prisma.upload.count({ where: { multipartId: uploadId } })) > 0,
        );
        return { status: 'success', detail: `${aborted} stale multipart uploads aborted` };
      }
      default:
        return { status: 'skipped', reason: `task ${payload.task} is not run by this version` };
    }
  }

  /**
   * Jobs PostgreSQL says are queued whose units may never have reached Redis (it was down when they
   * started): their units are sent again; fixed BullMQ ids make this a no-op for the others.
   */
  async requeueQueued(now = new Date()): Promise<HandlerOutcome> {
    const jobs = await this.prisma.job.findMany({
      where: { status: 'queued', startedAt: { lt: new Date(now.getTime() - REQUEUE_AFTER_MS) } },
      select: { id: true },
      orderBy: { startedAt: 'asc' },
      take: 200,
    });
    let units = 0;
    for (const j of jobs) units += await this.lifecycle.startIfReady(j.id);
    return { status: 'success', detail: `${jobs.length} queued jobs checked, ${units} units sent again` };
  }

  /** Upload sessions past `expires_at` that never completed (chunks deleted, then the rows), and unclaimed standalone files. */
  async expireUploads(now = new Date()): Promise<HandlerOutcome> {
    const expired = await this.prisma.upload.findMany({
      where: { status: { in: ['uploading', 'failed'] }, expiresAt: { lt: now } },
      select: { id: true, inputId: true, multipartId: true, multipartKey: true },
      take: 500,
    });
    for (const u of expired) {
      if (u.multipartId && u.multipartKey) await this.store.abortMultipart(u.multipartKey, u.multipartId);
      await this.store.removePrefix(objectKeys.uploadChunks(u.id));
      await this.prisma.$transaction([
        this.prisma.upload.delete({ where: { id: u.id } }),
        ...(u.inputId
          ? [
              this.prisma.input.updateMany({
                where: { id: u.inputId, status: { in: ['pending', 'uploading'] } },
                data: { status: 'failed', error: 'the upload session expired' },
              }),
            ]
          : []),
      ]);
    }
    // Standalone uploads that were assembled but never became a job's input: the file is kept
    // until the session's expires_at, then removed. The row goes first, under the upload's lock, so
    // a job attaching it at the same moment either wins (and keeps it) or finds it gone.
    const unclaimed = await this.prisma.upload.findMany({
      where: { status: 'complete', jobId: null, expiresAt: { lt: now } },
      select: { id: true },
      take: 500,
    });
    let removed = 0;
    for (const u of unclaimed) {
      const deleted = await this.prisma.$transaction(async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`upload:${u.id}`}, 0))`;
        return (await tx.upload.deleteMany({ where: { id: u.id, jobId: null } })).count;
      });
      if (!deleted) continue;
      removed++;
      await this.store.removePrefix(objectKeys.uploadFiles(u.id));
      await this.store.removePrefix(objectKeys.uploadChunks(u.id));
    }
    if (expired.length || removed)
      this.log.info({ count: expired.length, unclaimed: removed }, 'expired upload sessions removed');
    return {
      status: 'success',
      detail: `${expired.length} expired upload sessions removed, ${removed} unclaimed uploads removed`,
    };
  }
}
