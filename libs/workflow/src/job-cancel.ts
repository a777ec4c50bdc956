import { STOPPED_JOB_STATUSES, convertQueueFor, jobIdFor, type EngineName, type JobStatus } from '@kiln/contracts';
import type { PrismaClient } from '@kiln/database';
import type { QueueProducer } from '@kiln/queue';
import { objectKeys, type ObjectStore } from '@kiln/storage';
import type { JobLifecycle } from './job-lifecycle';

/** What a cancel request found or left: `canceling` when a step failed (the reconciler finishes it). */
export type CancelResult = 'canceled' | 'canceling' | 'ended';

/**
 * Canceling a job, as a state machine: a job not ended becomes `canceling` (the decision, durable:
 * converters see it on their next heartbeat even when the Redis cancel message is lost), then every
 * step runs (each idempotent), then `canceled` and the `job.canceled` callback. A step that fails
 * leaves the job `canceling`; a repeated DELETE or the reconciler runs the steps again.
 */
export class JobCancellation {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly producer: QueueProducer,
    private readonly store: ObjectStore,
    private readonly lifecycle: JobLifecycle,
    private readonly onStepFailed: (jobId: string, step: string, err: unknown) => void = () => undefined,
  ) {}

  /** Decides the cancel of a job not ended (or resumes an interrupted one) and runs its steps. */
  async cancel(jobId: string): Promise<CancelResult> {
    const decided = await this.prisma.job.updateMany({
      where: { id: jobId, status: { notIn: [...STOPPED_JOB_STATUSES] } },
      data: { status: 'canceling', statusInfo: 'canceling: running conversions stop, stored files are deleted' },
    });
    if (decided.count) await this.lifecycle.announce(jobId);
    const job = await this.prisma.job.findUnique({ where: { id: jobId }, select: { status: true } });
    if (!job) return 'ended';
    if (job.status !== 'canceling') return job.status === 'canceled' ? 'canceled' : 'ended';
    try {
      await this.finish(jobId);
      return 'canceled';
    } catch (err: unknown) {
      this.onStepFailed(jobId, 'finish', err);
      return 'canceling';
    }
  }

  /**
   * The steps of a decided cancel; throws when one fails (the job stays `canceling`). Units can no
   * longer be claimed or completed once the job is `canceling` (see JobLifecycle), so a converter
   * finishing at this moment removes its own file and records nothing.
   */
  async finish(jobId: string): Promise<void> {
    const now = new Date();
    await this.prisma.output.updateMany({
      where: { jobId, status: { notIn: ['completed', 'failed', 'canceled'] } },
      data: { status: 'canceled', finishedAt: now },
    });
    await this.prisma.conversion.updateMany({
      where: { jobId, status: { not: 'canceled' } },
      data: { status: 'canceled' },
    });
    // Best effort: a converter that misses the message stops on its next heartbeat (the durable flag).
    await this.lifecycle.events?.publishCancel(jobId).catch((err: unknown) => this.onStepFailed(jobId, 'publish', err));
    const units = await this.prisma.output.findMany({
      where: { jobId },
      select: { id: true, inputId: true, conversionId: true, engine: true },
    });
    for (const o of units) {
      const queue = convertQueueFor(o.engine as EngineName); // each engine's units wait on its own queue
      await this.producer
        .queue(queue)
        .remove(jobIdFor(queue, { jobId, inputId: o.inputId, conversionId: o.conversionId, outputId: o.id }))
        .catch(() => 0); // an active unit cannot be removed: it stops on the cancel
    }
    const uploads = await this.prisma.upload.findMany({
      where: { jobId },
      select: { id: true, multipartId: true, multipartKey: true, completedAt: true },
    });
    await Promise.all(
      uploads.map((u) =>
        u.multipartId && u.multipartKey && !u.completedAt
          ? this.store.abortMultipart(u.multipartKey, u.multipartId)
          : undefined,
      ),
    );
    await Promise.all([
      this.store.removePrefix(objectKeys.jobInputs(jobId)),
      this.store.removePrefix(objectKeys.jobOutputs(jobId)),
      // uploads/<id>/: files assembled from multipart parts, or standalone uploads attached to this job
      ...uploads.flatMap((u) => [
        this.store.removePrefix(objectKeys.uploadChunks(u.id)),
        this.store.removePrefix(objectKeys.uploadFiles(u.id)),
      ]),
    ]);
    await this.prisma.output.updateMany({ where: { jobId }, data: { objectKey: null } });
    await this.prisma.input.updateMany({ where: { jobId }, data: { objectKey: null } });
    await this.prisma.upload.updateMany({
      where: { jobId, status: 'uploading' },
      data: { status: 'failed', error: 'the job was canceled' },
    });
    const done = await this.prisma.job.updateMany({
      where: { id: jobId, status: 'canceling' },
      data: { status: 'canceled' satisfies JobStatus, statusInfo: '', finishedAt: now },
    });
    if (!done.count) return; // another runner finished it
    await this.lifecycle.announce(jobId);
    const job = await this.prisma.job.findUnique({ where: { id: jobId }, select: { callback: true } });
    // A crash before this line is repaired by the reconciler (an ended job with no outbox row).
    await this.lifecycle.enqueueCallback(jobId, job?.callback ?? null, 'job.canceled');
  }
}
