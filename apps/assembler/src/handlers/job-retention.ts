import { FINAL_JOB_STATUSES } from '@kiln/contracts';
import type { Prisma, PrismaClient } from '@kiln/database';
import type { Logger } from '@kiln/observability';
import { objectKeys, type ObjectStore } from '@kiln/storage';

export interface JobRetentionSettings {
  /** KILN_JOB_RETENTION_SECONDS: how long an ended job without its own `expires_at` keeps its data. */
  retentionSeconds: number;
  /** Jobs read per query (default 100). */
  batchSize?: number;
  /** Batches per run at most (default 50): the next run goes on. */
  maxBatches?: number;
}

export interface RetentionResult {
  /** Jobs whose files this run deleted, then their rows. */
  deleted: string[];
  /** Jobs whose deletion failed this run (their rows stay; the next run tries again). */
  failed: string[];
}

/** A deletion holds its job's row for the time its files take to delete. */
const DELETE_TIMEOUT_MS = 10 * 60_000;

/**
 * Deletes the data of ended jobs whose time has come: their objects (inputs, outputs, the upload
 * sessions attached to them with their chunks and multipart uploads), then their rows (inputs,
 * conversions, outputs, uploads, callbacks go with the job: ON DELETE CASCADE). After it the API
 * answers 404 for the job, its outputs and downloads, as for a job that never existed.
 *
 * A job expires at its own `expires_at` when created with one, else KILN_JOB_RETENTION_SECONDS
 * after it ended; `keep_data` (created with `expires_at: 0`) keeps it. A job that has not ended
 * (canceling included) is never touched, whatever its `expires_at`.
 *
 * Several assemblers may run this at once: each job is deleted inside a transaction holding its row
 * (FOR NO KEY UPDATE SKIP LOCKED), so a second runner skips it, and after the commit the row is gone.
 * Objects go first: a failure leaves the row, and the next run deletes what is left. A failure on one
 * job is logged and the others go on.
 */
export class JobRetention {
  private readonly batchSize: number;
  private readonly maxBatches: number;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly store: ObjectStore,
    private readonly log: Logger,
    private readonly settings: JobRetentionSettings,
  ) {
    this.batchSize = settings.batchSize ?? 100;
    this.maxBatches = settings.maxBatches ?? 50;
  }

  async run(now = new Date()): Promise<RetentionResult> {
    const result: RetentionResult = { deleted: [], failed: [] };
    // Jobs this run will not look at again: failed, or held by another runner (it deletes them).
    const passed: string[] = [];
    for (let batch = 0; batch < this.maxBatches; batch++) {
      const jobs = await this.prisma.job.findMany({
        where: { ...this.expired(now), id: { notIn: passed } },
        select: { id: true },
        orderBy: { finishedAt: 'asc' },
        take: this.batchSize,
      });
      for (const { id } of jobs) {
        try {
          if (await this.delete(id, now)) result.deleted.push(id);
          else passed.push(id);
        } catch (err: unknown) {
          passed.push(id);
          result.failed.push(id);
          this.log.warn({ jobId: id, err }, 'deleting an expired job failed; the next run tries again');
        }
      }
      if (jobs.length < this.batchSize) break;
    }
    if (result.deleted.length || result.failed.length)
      this.log.info({ deleted: result.deleted.length, failed: result.failed.length }, 'expired jobs deleted');
    return result;
  }

  /** Ended jobs, not kept, past their own expires_at or (without one) ended over the retention ago. */
  private expired(now: Date): Prisma.JobWhereInput {
    const endedBefore = new Date(now.getTime() - this.settings.retentionSeconds * 1000);
    return {
      status: { in: [...FINAL_JOB_STATUSES] },
      keepData: false,
      OR: [
        { expiresAt: { lte: now } },
        { expiresAt: null, finishedAt: { lte: endedBefore } },
        // An ended job always has finished_at; should one lack it, its last change stands in.
        { expiresAt: null, finishedAt: null, modifiedAt: { lte: endedBefore } },
      ],
    };
  }

  /** Deletes one job's objects, then its rows; false when another runner holds it or it is gone. */
  private delete(jobId: string, now: Date): Promise<boolean> {
    return this.prisma.$transaction(
      async (tx) => {
        const locked = await tx.$queryRaw<{ id: string }[]>`
          SELECT id FROM jobs WHERE id = ${jobId}::uuid FOR NO KEY UPDATE SKIP LOCKED`;
        if (!locked.length) return false;
        // Under the lock: the batch's read may be older than another runner's deletion or a change.
        if (!(await tx.job.count({ where: { id: jobId, ...this.expired(now) } }))) return false;
        await this.removeObjects(tx, jobId);
        await tx.job.delete({ where: { id: jobId } });
        return true;
      },
      { timeout: DELETE_TIMEOUT_MS, maxWait: 30_000 },
    );
  }

  /** Everything stored for the job, as a cancel removes it, plus any object key its rows still name. */
  private async removeObjects(tx: Prisma.TransactionClient, jobId: string): Promise<void> {
    const [uploads, inputs, outputs] = await Promise.all([
      tx.upload.findMany({
        where: { jobId },
        select: { id: true, multipartId: true, multipartKey: true, completedAt: true },
      }),
      tx.input.findMany({ where: { jobId, objectKey: { not: null } }, select: { objectKey: true } }),
      tx.output.findMany({ where: { jobId, objectKey: { not: null } }, select: { objectKey: true } }),
    ]);
    for (const u of uploads)
      if (u.multipartId && u.multipartKey && !u.completedAt)
        await this.store.abortMultipart(u.multipartKey, u.multipartId);
    const prefixes = [
      objectKeys.jobInputs(jobId),
      objectKeys.jobOutputs(jobId),
      ...uploads.flatMap((u) => [objectKeys.uploadChunks(u.id), objectKeys.uploadFiles(u.id)]),
    ];
    for (const prefix of prefixes) await this.store.removePrefix(prefix);
    const named = [...inputs, ...outputs].map((r) => r.objectKey as string);
    for (const key of named) if (!prefixes.some((p) => key.startsWith(p))) await this.store.remove(key);
  }
}
