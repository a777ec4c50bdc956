import { createHash, randomUUID } from 'node:crypto';
import type { CallbackEvent, JobError, JobStatus, PayloadOf } from '@kiln/contracts';
import { FINAL_JOB_STATUSES } from '@kiln/contracts';
import type { Output, PrismaClient } from '@kiln/database';
import type { QueueProducer, JobEvents } from '@kiln/queue';
import { JOB_CHILDREN, type JobWithChildren } from './job-view';

export interface CallbackPolicy {
  attempts: number;
  backoffMs: number;
}

/** The same delivery id for the same job event, however often finalize runs (receivers deduplicate on it). */
export function deliveryIdFor(jobId: string, event: CallbackEvent): string {
  const h = createHash('sha256').update(`${jobId}/${event}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const ENDED = new Set(['completed', 'failed', 'canceled']);

/** BullMQ priorities run from 1 (first) to 2,097,152. */
export function fairPriority(backlogAhead: number): number {
  return Math.min(2_097_152, 1 + Math.max(0, backlogAhead));
}
const IN_FLIGHT = new Set(['pending', 'uploading', 'assembling']);

/** A converter's hold on one unit: a fresh lease per attempt (see markUnitStarted). */
export interface UnitClaim {
  lease: string;
  /** 1 for the first claim; the output object's key includes it, so attempts never share a key. */
  attempt: number;
}

/**
 * Job state transitions shared by the apps. PostgreSQL decides (row lock / conditional update);
 * queue messages are sent after the decision with deterministic ids, so a repeat is harmless.
 */
export class JobLifecycle {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly producer: QueueProducer,
    private readonly callbacks: CallbackPolicy,
    readonly events?: JobEvents,
  ) {}

  /** Publishes the job's current status and progress to live listeners. */
  async announce(jobId: string): Promise<void> {
    if (!this.events) return;
    const job = await this.prisma.job.findUnique({ where: { id: jobId }, select: { status: true, progress: true } });
    if (job) await this.events.publish(jobId, job.status as JobStatus, job.progress);
  }

  async load(jobId: string): Promise<JobWithChildren | null> {
    return this.prisma.job.findUnique({ where: { id: jobId }, include: JOB_CHILDREN });
  }

  /**
   * Starts a job that has `process: true`, at least one ready input and one conversion: one unit of
   * work per ready input × conversion. Inputs not ready at that moment cannot join any more.
   * For a job already `queued` it sends the queued units again (a no-op unless an outage lost them).
   * Returns the number of units enqueued (0 when the job is not startable).
   */
  async startIfReady(jobId: string): Promise<number> {
    const started = await this.prisma.$transaction(async (tx) => {
      const locked = await tx.$queryRaw<{ status: string; process: boolean; owner_key_hash: string }[]>`
        SELECT status, process, owner_key_hash FROM jobs WHERE id = ${jobId}::uuid FOR UPDATE`;
      if (!locked.length || !locked[0].process) return null;
      if (locked[0].status === 'queued') {
        // Already decided: send the queued units again. Their BullMQ ids are fixed, so units that
        // reached Redis are not duplicated, and a flow lost to an outage is restored.
        const queued = await tx.output.findMany({ where: { jobId, status: 'queued' } });
        if (!queued.length) return null;
        return { priority: 0, units: queued.map<PayloadOf<'convert'>>((o) => ({ jobId, inputId: o.inputId, conversionId: o.conversionId, outputId: o.id })) };
      }
      if (!['incomplete', 'downloading'].includes(locked[0].status)) return null;
      const [inputs, conversions] = await Promise.all([
        tx.input.findMany({ where: { jobId }, orderBy: { createdAt: 'asc' } }),
        tx.conversion.findMany({ where: { jobId }, orderBy: { createdAt: 'asc' } }),
      ]);
      const ready = inputs.filter((i) => i.status === 'ready');
      if (!ready.length || !conversions.length) return null;
      // Remote inputs were part of the job's request: wait for every fetch to end. Uploads follow
      // the contract instead: the first completed file starts the job.
      if (inputs.some((i) => i.type === 'remote' && IN_FLIGHT.has(i.status))) return null;
      if (inputs.some((i) => i.status === 'assembling')) return null;
      const pending = inputs.filter((i) => i.status !== 'ready' && i.status !== 'failed');
      if (pending.length) {
        await tx.input.updateMany({
          where: { id: { in: pending.map((i) => i.id) } },
          data: { status: 'failed', error: 'the job started processing before this input was ready' },
        });
      }
      const rows = ready.flatMap((input) =>
        conversions.map((c) => ({ id: randomUUID(), jobId, conversionId: c.id, inputId: input.id, status: 'queued' })),
      );
      await tx.output.createMany({ data: rows, skipDuplicates: true });
      await tx.conversion.updateMany({ where: { jobId }, data: { status: 'queued' } });
      await tx.job.update({ where: { id: jobId }, data: { status: 'queued', statusInfo: '', startedAt: new Date() } });
      const stored = await tx.output.findMany({ where: { jobId } });
      // Fair share between API keys: a unit's priority is its key's backlog, so one key's thousand
      // queued units do not starve another key's single one (BullMQ: lower number runs first).
      const [{ backlog }] = await tx.$queryRaw<{ backlog: number }[]>`
        SELECT COUNT(*)::int AS backlog FROM outputs o JOIN jobs j ON j.id = o.job_id
        WHERE j.owner_key_hash = ${locked[0].owner_key_hash} AND o.status = 'queued' AND o.job_id <> ${jobId}::uuid`;
      return {
        priority: backlog,
        units: stored.map<PayloadOf<'convert'>>((o) => ({ jobId, inputId: o.inputId, conversionId: o.conversionId, outputId: o.id })),
      };
    });
    if (!started) return 0;
    const { units, priority } = started;
    await this.producer.enqueueConversionFlow(jobId, units, {}, (i) => fairPriority(priority + i));
    await this.announce(jobId);
    return units.length;
  }

  /** A process:true job whose bytes are arriving server-side (fetch, assembly) shows `downloading`. */
  async markDownloading(jobId: string): Promise<void> {
    const changed = await this.prisma.job.updateMany({ where: { id: jobId, status: 'incomplete', process: true }, data: { status: 'downloading', statusInfo: '' } });
    if (changed.count) await this.announce(jobId);
  }

  /**
   * An input that can never become ready. A process:true job left with no input that could still
   * start it fails (errors name the inputs) and its callback is sent; otherwise the job waits on.
   */
  async failInput(jobId: string, inputId: string, message: string, code = 'unprocessable'): Promise<void> {
    await this.prisma.input.updateMany({ where: { id: inputId, status: { not: 'ready' } }, data: { status: 'failed', error: message } });
    const done = await this.prisma.$transaction(async (tx) => {
      const locked = await tx.$queryRaw<{ status: string; process: boolean }[]>`
        SELECT status, process FROM jobs WHERE id = ${jobId}::uuid FOR UPDATE`;
      if (!locked.length || !locked[0].process || !['incomplete', 'downloading'].includes(locked[0].status)) return null;
      const inputs = await tx.input.findMany({ where: { jobId } });
      if (inputs.some((i) => i.status === 'ready' || IN_FLIGHT.has(i.status))) {
        if (inputs.some((i) => i.status === 'ready')) return 'maybe-start';
        return null;
      }
      const errors: JobError[] = inputs
        .filter((i) => i.status === 'failed')
        .map((i) => ({ code: i.id === inputId ? code : 'unprocessable', message: `${i.filename ?? i.source ?? i.id}: ${i.error ?? 'failed'}`, source: 'input', input_id: i.id }));
      const job = await tx.job.update({
        where: { id: jobId },
        data: { status: 'failed', statusInfo: '', errors: errors as object[], finishedAt: new Date(), progress: 100 },
      });
      return job.callback ? 'failed' : 'failed-silent';
    });
    if (done === 'maybe-start') await this.startIfReady(jobId);
    if (done === 'failed' || done === 'failed-silent') await this.announce(jobId);
    if (done === 'failed') {
      const job = await this.prisma.job.findUnique({ where: { id: jobId }, select: { callback: true } });
      await this.enqueueCallback(jobId, job?.callback ?? null, 'job.failed');
    }
  }

  /**
   * A converter claims a unit (queued, or processing under a claim that may have been lost): a fresh
   * lease and the next attempt number. Only the holder of the latest lease may record progress, the
   * file or a failure, so a converter that lost the unit (partitioned, its queue lock expired and
   * another converter took over) cannot overwrite the winner. The first claim moves the job from
   * queued to processing. Null when the unit can no longer be claimed (ended or canceled).
   */
  async markUnitStarted(jobId: string, outputId: string): Promise<UnitClaim | null> {
    const lease = randomUUID();
    const claimed = await this.prisma.$queryRaw<{ attempt: number }[]>`
      UPDATE outputs SET status = 'processing', started_at = now(), progress = 0, attempt = attempt + 1, lease = ${lease}::uuid
      WHERE id = ${outputId}::uuid AND job_id = ${jobId}::uuid AND status IN ('queued', 'processing')
      RETURNING attempt`;
    const moved = await this.prisma.job.updateMany({ where: { id: jobId, status: 'queued' }, data: { status: 'processing', statusInfo: '' } });
    if (moved.count) await this.announce(jobId);
    return claimed.length ? { lease, attempt: claimed[0].attempt } : null;
  }

  /** Monotonic progress of one unit, from the converter holding `lease`; the job's progress is the mean over its units. */
  async reportProgress(jobId: string, outputId: string, percent: number, lease: string): Promise<void> {
    const p = Math.max(0, Math.min(99, Math.floor(percent)));
    const changed = await this.prisma.$executeRaw`
      UPDATE outputs SET progress = GREATEST(progress, ${p}) WHERE id = ${outputId}::uuid AND status = 'processing' AND lease = ${lease}::uuid`;
    if (changed) await this.refreshJobProgress(jobId);
  }

  private async refreshJobProgress(jobId: string): Promise<void> {
    const rows = await this.prisma.$queryRaw<{ status: string; progress: number; changed: boolean }[]>`
      WITH before AS (SELECT progress FROM jobs WHERE id = ${jobId}::uuid)
      UPDATE jobs SET progress = GREATEST(jobs.progress, (
        SELECT COALESCE(FLOOR(AVG(CASE WHEN status IN ('completed', 'failed') THEN 100 ELSE progress END)), 0)::int
        FROM outputs WHERE job_id = ${jobId}::uuid)), modified_at = now()
      WHERE id = ${jobId}::uuid AND status IN ('queued', 'processing')
      RETURNING status, progress, progress <> (SELECT progress FROM before) AS changed`;
    if (rows[0]?.changed) await this.events?.publish(jobId, rows[0].status as JobStatus, rows[0].progress);
  }

  /**
   * Records the unit's file, only while `lease` is still the unit's claim and the job is not
   * canceled. False when it lost: the caller removes its own object (its key is its attempt's).
   */
  async completeUnit(
    jobId: string,
    outputId: string,
    lease: string,
    file: Pick<Output, 'objectKey' | 'filename' | 'size' | 'contentType' | 'checksumSha256'>,
  ): Promise<boolean> {
    const won = await this.prisma.output.updateMany({
      where: { id: outputId, jobId, lease, status: 'processing', job: { status: { not: 'canceled' } } },
      data: { ...file, status: 'completed', progress: 100, finishedAt: new Date(), error: null, errorCode: null },
    });
    if (!won.count) return false;
    await this.refreshJobProgress(jobId);
    return true;
  }

  /**
   * A unit that cannot be converted. With `lease`, only while that claim still holds the unit (a
   * converter that lost it must not fail the winner's unit); without, any unit not yet ended
   * (finalize's units whose retries ran out, failures found before a claim).
   */
  async failUnit(jobId: string, outputId: string, code: string, message: string, lease?: string): Promise<boolean> {
    const failed = await this.prisma.output.updateMany({
      where: lease ? { id: outputId, jobId, lease, status: 'processing' } : { id: outputId, jobId, status: { notIn: ['completed', 'canceled'] } },
      data: { status: 'failed', errorCode: code, error: message, finishedAt: new Date() },
    });
    if (failed.count) await this.refreshJobProgress(jobId);
    return failed.count > 0;
  }

  /**
   * Once every unit has ended: `completed` when all succeeded, else `failed` with errors naming the
   * input and conversion. Idempotent; a job already final (e.g. canceled) keeps its status.
   * Enqueues the job's callback (deterministic delivery id).
   */
  async finalize(jobId: string): Promise<{ status: JobStatus; callbackEnqueued: boolean } | null> {
    const job = await this.load(jobId);
    if (!job) return null;
    if (!FINAL_JOB_STATUSES.includes(job.status as JobStatus)) {
      // A unit whose convert job ended without recording an outcome (retries exhausted) failed.
      const stuck = job.outputs.filter((o) => !ENDED.has(o.status));
      for (const o of stuck) await this.failUnit(jobId, o.id, 'internal', 'the conversion stopped unexpectedly (retries exhausted)');
      const outputs = stuck.length ? await this.prisma.output.findMany({ where: { jobId } }) : job.outputs;
      const errors: JobError[] = [
        ...job.inputs
          .filter((i) => i.status === 'failed' && !outputs.some((o) => o.inputId === i.id))
          .filter((i) => !/started processing before/.test(i.error ?? ''))
          .map<JobError>((i) => ({ code: 'unprocessable', message: i.error ?? 'input failed', source: 'input', input_id: i.id })),
        ...outputs
          .filter((o) => o.status === 'failed')
          .map<JobError>((o) => {
            const input = job.inputs.find((i) => i.id === o.inputId);
            const conv = job.conversions.find((c) => c.id === o.conversionId);
            return {
              code: o.errorCode ?? 'internal',
              message: `${input?.filename ?? o.inputId} → ${conv?.target ?? o.conversionId}: ${o.error ?? 'failed'}`,
              source: 'conversion',
              input_id: o.inputId,
              conversion_id: o.conversionId,
            };
          }),
      ];
      const ok = outputs.length > 0 && outputs.every((o) => o.status === 'completed');
      const status: JobStatus = ok ? 'completed' : 'failed';
      const finishedAt = new Date();
      await this.prisma.$transaction([
        this.prisma.job.updateMany({
          where: { id: jobId, status: { notIn: [...FINAL_JOB_STATUSES] } },
          data: { status, statusInfo: '', errors: errors as object[], progress: 100, finishedAt },
        }),
        ...job.conversions.map((c) => {
          const mine = outputs.filter((o) => o.conversionId === c.id);
          const failed = mine.find((o) => o.status === 'failed');
          return this.prisma.conversion.update({
            where: { id: c.id },
            data: { status: failed || !mine.length ? 'failed' : 'completed', progress: 100, error: failed?.error ?? null },
          });
        }),
      ]);
    }
    const final = await this.prisma.job.findUniqueOrThrow({ where: { id: jobId } });
    const status = final.status as JobStatus;
    await this.events?.publish(jobId, status, final.progress);
    const callbackEnqueued = await this.enqueueCallback(jobId, final.callback, `job.${status}` as CallbackEvent);
    return { status, callbackEnqueued };
  }

  async enqueueCallback(jobId: string, url: string | null, event: CallbackEvent): Promise<boolean> {
    if (!url) return false;
    await this.producer.enqueue(
      'callback',
      { jobId, event, deliveryId: deliveryIdFor(jobId, event) },
      { attempts: this.callbacks.attempts, backoff: { type: 'exponential', delay: this.callbacks.backoffMs, jitter: 0.3 } },
    );
    return true;
  }
}
