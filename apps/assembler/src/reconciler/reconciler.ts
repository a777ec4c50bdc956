import { Inject, Injectable } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import {
  convertQueueFor,
  jobIdFor,
  type CallbackEvent,
  type ConvertQueueName,
  type EngineName,
  type PayloadOf,
  type QueueName,
} from '@kiln/contracts';
import { PRISMA, type PrismaClient } from '@kiln/database';
import { LOGGER, KilnMetrics, type Logger } from '@kiln/observability';
import { QueueProducer } from '@kiln/queue';
import { JobCancellation, JobLifecycle } from '@kiln/workflow';
import { MaintenanceSchedule } from '../maintenance.schedule';

/** BullMQ states in which a job is still going to run (or running). */
const LIVE = new Set(['waiting', 'wait', 'prioritized', 'active', 'delayed', 'waiting-children']);
/** States in which an entry is history: it will not run again, and it blocks a new one with its id. */
const DONE = new Set(['completed', 'failed']);
/** How many rows of each kind one pass looks at (the next pass takes the rest). */
const BATCH = 200;
/** An ended job whose callback never reached the outbox is repaired for this long after it ended. */
const MISSING_CALLBACK_WINDOW_MS = 24 * 3600_000;

export type Repair =
  | 'units'
  | 'finalize'
  | 'callback'
  | 'missing-callback'
  | 'cancel'
  | 'schedule'
  | 'assembly'
  | 'fetch'
  | 'start';
export type RepairCounts = Record<Repair, number>;

interface Unit {
  id: string;
  inputId: string;
  conversionId: string;
  status: string;
  heartbeatAt: Date | null;
  /** Names the queue the unit waits on (convertQueueFor). */
  engine: string;
}

/**
 * PostgreSQL is the ledger, Redis only carries the work. The reconciler compares the two and re-drives
 * what PostgreSQL says should be moving but has no live work in Redis (lost in a crash without fsync,
 * an eviction, a failover that dropped writes, a FLUSHALL):
 * - a job queued or processing whose units have no live convert job and no fresh heartbeat: its
 *   flow is sent again (units still running anywhere are never duplicated: a unit with a fresh
 *   heartbeat, or any live queue entry, makes the pass leave the job alone);
 * - a job whose units have all ended but which never finalized: finalized here;
 * - a callback delivery the outbox holds as pending with no live queue entry: resumed with the same
 *   delivery id (its attempts are counted in PostgreSQL, so they stay bounded);
 * - an ended job with a callback URL whose delivery never reached the outbox: created and sent;
 * - a cancel that was interrupted (the job still `canceling`): finished;
 * - the maintenance schedulers, when Redis lost them: registered again;
 * - before a job starts: an upload whose bytes are all in but whose assembly was lost, a remote input
 *   whose download was lost, and a job whose inputs are all settled but which never started.
 * Safe on several assemblers at once: each job is repaired under a PostgreSQL advisory lock, and
 * every queue write uses the work's fixed id.
 */
@Injectable()
export class Reconciler {
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(QueueProducer) private readonly producer: QueueProducer,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(KilnMetrics) private readonly metrics: KilnMetrics,
    private readonly lifecycle: JobLifecycle,
    private readonly cancellation: JobCancellation,
    private readonly schedule: MaintenanceSchedule,
  ) {}

  /** One comparison of PostgreSQL with the queues; what it repaired, by kind. */
  async pass(now = new Date()): Promise<RepairCounts> {
    const counts: RepairCounts = {
      units: 0,
      finalize: 0,
      callback: 0,
      'missing-callback': 0,
      cancel: 0,
      schedule: 0,
      assembly: 0,
      fetch: 0,
      start: 0,
    };
    const before = new Date(now.getTime() - this.config.KILN_RECONCILE_GRACE_MS);
    const steps: [string, () => Promise<void>][] = [
      [
        'schedule',
        async () => {
          counts.schedule += await this.schedule.ensure();
        },
      ],
      ['jobs', () => this.movingJobs(before, counts)],
      ['cancels', () => this.cancels(before, counts)],
      ['deliveries', () => this.deliveries(before, counts)],
      ['missing callbacks', () => this.missingCallbacks(before, now, counts)],
      ['assemblies', () => this.assemblies(before, counts)],
      ['fetches', () => this.fetches(before, now, counts)],
      ['starts', () => this.starts(before, counts)],
    ];
    for (const [what, step] of steps) {
      // One failing step (Redis still down, say) does not stop the others.
      await step().catch((err: unknown) => this.log.warn({ step: what, err: String(err) }, 'reconciler step failed'));
    }
    for (const [repair, n] of Object.entries(counts)) if (n) this.metrics.reconcilerRepairs.inc({ repair }, n);
    if (Object.values(counts).some(Boolean)) this.log.info(counts, 'reconciler re-drove lost work');
    return counts;
  }

  /** Jobs PostgreSQL says are queued or processing, started before `before`. */
  private async movingJobs(before: Date, counts: RepairCounts): Promise<void> {
    const jobs = await this.prisma.job.findMany({
      where: { status: { in: ['queued', 'processing'] }, startedAt: { lt: before } },
      select: { id: true },
      orderBy: { startedAt: 'asc' },
      take: BATCH,
    });
    for (const { id } of jobs) {
      const repaired = await this.underLock(id, () => this.redriveJob(id, before));
      if (repaired) counts[repaired]++;
    }
  }

  private async redriveJob(jobId: string, before: Date): Promise<Repair | null> {
    const job = await this.prisma.job.findUnique({
      where: { id: jobId },
      select: {
        status: true,
        outputs: {
          select: { id: true, inputId: true, conversionId: true, status: true, heartbeatAt: true, engine: true },
        },
      },
    });
    if (!job || (job.status !== 'queued' && job.status !== 'processing')) return null;
    const finalizeId = jobIdFor('finalize', { jobId });
    const finalizeState = await this.state('finalize', finalizeId);
    const open = job.outputs.filter((o) => o.status === 'queued' || o.status === 'processing');
    if (!open.length) {
      // Every unit ended; finalize should have run. A live finalize will.
      if (LIVE.has(finalizeState) && finalizeState !== 'waiting-children') return null;
      await this.lifecycle.finalize(jobId);
      return 'finalize';
    }
    // A finalize about to run judges the open units itself (retries exhausted).
    if (LIVE.has(finalizeState) && finalizeState !== 'waiting-children') return null;
    const states = await Promise.all(open.map((u) => this.state(this.queueOf(u), this.convertId(jobId, u))));
    const live = open.some((u, i) => LIVE.has(states[i]) || (u.heartbeatAt !== null && u.heartbeatAt > before));
    if (live) return null;
    // Nothing will move these units: clear their history entries (they block the fixed ids) and send the flow again.
    for (const [i, u] of open.entries())
      if (DONE.has(states[i])) await this.producer.queue(this.queueOf(u)).remove(this.convertId(jobId, u));
    if (finalizeState !== 'unknown') await this.producer.queue('finalize').remove(finalizeId);
    await this.producer.enqueueConversionFlow(
      jobId,
      open.map((u) => this.unitPayload(jobId, u)),
    );
    this.log.warn({ jobId, units: open.length }, 'units lost from the queue were sent again');
    return 'units';
  }

  /** Cancels decided but never finished (the gateway failed or died in the middle). */
  private async cancels(before: Date, counts: RepairCounts): Promise<void> {
    const jobs = await this.prisma.job.findMany({
      where: { status: 'canceling', modifiedAt: { lt: before } },
      select: { id: true },
      take: BATCH,
    });
    for (const { id } of jobs) {
      const done = await this.underLock(id, async () => {
        await this.cancellation.finish(id);
        return 'cancel' as const;
      });
      if (done) counts.cancel++;
    }
  }

  /** Deliveries pending in the outbox whose queue entry was lost or ended without a final outcome. */
  private async deliveries(before: Date, counts: RepairCounts): Promise<void> {
    const pending = await this.prisma.delivery.findMany({
      where: { state: 'pending', updatedAt: { lt: before } },
      select: { deliveryId: true, jobId: true, event: true },
      orderBy: { updatedAt: 'asc' },
      take: BATCH,
    });
    for (const d of pending) {
      const id = jobIdFor('callback', { jobId: d.jobId, event: d.event as CallbackEvent, deliveryId: d.deliveryId });
      const state = await this.state('callback', id);
      if (LIVE.has(state)) continue;
      if (DONE.has(state)) await this.producer.queue('callback').remove(id);
      await this.lifecycle.sendDelivery(d.jobId, d.event as CallbackEvent);
      counts.callback++;
    }
  }

  /**
   * Ended jobs with a callback URL whose final event never reached the outbox (a crash right after the
   * end). Only the final event counts: notify_status's earlier events (job.queued, ...) are not it.
   */
  private async missingCallbacks(before: Date, now: Date, counts: RepairCounts): Promise<void> {
    const since = new Date(now.getTime() - MISSING_CALLBACK_WINDOW_MS);
    const jobs = await this.prisma.$queryRaw<{ id: string; status: string; callback: string }[]>`
      SELECT j.id, j.status, j.callback FROM jobs j
      WHERE j.status IN ('completed', 'failed', 'canceled') AND j.callback IS NOT NULL
        AND j.finished_at < ${before} AND j.finished_at > ${since}
        AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.job_id = j.id AND d.event = 'job.' || j.status)
      ORDER BY j.finished_at LIMIT ${BATCH}`;
    for (const j of jobs) {
      if (await this.lifecycle.enqueueCallback(j.id, j.callback, `job.${j.status}` as CallbackEvent))
        counts['missing-callback']++;
    }
  }

  /** Uploads whose bytes are all in (`complete`) but never assembled, with no live assembly entry. */
  private async assemblies(before: Date, counts: RepairCounts): Promise<void> {
    const uploads = await this.prisma.upload.findMany({
      where: { status: 'complete', completedAt: null, createdAt: { lt: before } },
      select: { id: true },
      take: BATCH,
    });
    for (const u of uploads) {
      const id = jobIdFor('assemble', { uploadId: u.id });
      const state = await this.state('assemble', id);
      if (LIVE.has(state)) continue;
      if (DONE.has(state)) await this.producer.queue('assemble').remove(id);
      await this.producer.enqueue('assemble', { uploadId: u.id });
      counts.assembly++;
    }
  }

  /**
   * Remote inputs of a job still waiting for them whose download entry was lost. One that was being
   * downloaded (`uploading`) is re-driven only once no download can still be running
   * (KILN_FETCH_MAX_SECONDS), so a live download is never doubled.
   */
  private async fetches(before: Date, now: Date, counts: RepairCounts): Promise<void> {
    const longest = new Date(
      now.getTime() - this.config.KILN_FETCH_MAX_SECONDS * 1000 - this.config.KILN_RECONCILE_GRACE_MS,
    );
    const inputs = await this.prisma.input.findMany({
      where: {
        type: 'remote',
        job: { status: { in: ['incomplete', 'downloading'] } },
        OR: [
          { status: 'pending', createdAt: { lt: before } },
          { status: 'uploading', createdAt: { lt: longest } },
        ],
      },
      select: { id: true, jobId: true },
      take: BATCH,
    });
    for (const i of inputs) {
      const payload = { jobId: i.jobId, inputId: i.id };
      const id = jobIdFor('fetch', payload);
      const state = await this.state('fetch', id);
      if (LIVE.has(state)) continue;
      if (DONE.has(state)) await this.producer.queue('fetch').remove(id);
      await this.producer.enqueue('fetch', payload);
      counts.fetch++;
    }
  }

  /** Jobs set to process whose inputs have all settled (ready or failed) but which never started. */
  private async starts(before: Date, counts: RepairCounts): Promise<void> {
    const jobs = await this.prisma.job.findMany({
      where: {
        process: true,
        status: { in: ['incomplete', 'downloading'] },
        modifiedAt: { lt: before },
        inputs: { some: { status: 'ready' }, none: { status: { in: ['pending', 'uploading', 'assembling'] } } },
        conversions: { some: {} },
      },
      select: { id: true },
      take: BATCH,
    });
    for (const { id } of jobs) {
      const started = await this.underLock(id, () => this.lifecycle.startIfReady(id));
      if (started) counts.start++;
    }
  }

  /** Runs `repair` only if no other assembler is repairing this job right now. */
  private async underLock<T>(jobId: string, repair: () => Promise<T>): Promise<T | null> {
    return this.prisma.$transaction(
      async (tx) => {
        const [{ locked }] = await tx.$queryRaw<{ locked: boolean }[]>`
          SELECT pg_try_advisory_xact_lock(hashtextextended(${`reconcile:${jobId}`}, 0)) AS locked`;
        return locked ? repair() : null;
      },
      { timeout: 60_000, maxWait: 10_000 },
    );
  }

  private async state(queue: QueueName, id: string): Promise<string> {
    return this.producer.queue(queue).getJobState(id);
  }

  private unitPayload(jobId: string, u: Unit): PayloadOf<'convert'> {
    return { jobId, inputId: u.inputId, conversionId: u.conversionId, outputId: u.id, engine: u.engine as EngineName };
  }

  private queueOf(u: Unit): ConvertQueueName {
    return convertQueueFor(u.engine as EngineName);
  }

  private convertId(jobId: string, u: Unit): string {
    return jobIdFor(this.queueOf(u), this.unitPayload(jobId, u));
  }
}
