import { createHash, randomUUID } from 'node:crypto';
import type { CallbackEvent, EngineName, JobStatus, NOTIFIED_JOB_STATUSES, PayloadOf } from '@kiln/contracts';
import { FINAL_JOB_STATUSES, STOPPED_JOB_STATUSES } from '@kiln/contracts';
import type { Output, PrismaClient } from '@kiln/database';
import type { QueueProducer, JobEvents } from '@kiln/queue';
import type { ObjectStore } from '@kiln/storage';
import { detectStoredKinds, kindUnread, unitEngine } from './input-kinds';
import {
  NOT_READY_AT_START,
  RETRIES_EXHAUSTED,
  fairPriority,
  finalOutcome,
  inputFailureOutcome,
  planStart,
  startGate,
  waitsForInputs,
} from './job-decisions';
import { JOB_CHILDREN, type JobWithChildren } from './job-view';

export interface CallbackPolicy {
  attempts: number;
  backoffMs: number;
}

export interface UnitPolicy {
  /**
   * A unit is claimed at most this often, however its attempts ended (a crashed converter, a lost
   * queue): then it fails for good, so a poison input never crash-loops the fleet.
   */
  maxAttempts: number;
}

/** The error of a unit whose claims ran out (each attempt ended without an outcome). */
export function attemptsExhausted(attempts: number): { code: string; message: string } {
  return {
    code: 'internal',
    message: `the conversion was attempted ${attempts} times and never finished (each attempt crashed or was lost); Kiln gave up on it`,
  };
}

/** The same delivery id for the same job event, however often finalize runs (receivers deduplicate on it). */
export function deliveryIdFor(jobId: string, event: CallbackEvent): string {
  const h = createHash('sha256').update(`${jobId}/${event}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

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
    private readonly units: UnitPolicy = { maxAttempts: 5 },
    /** Reads the head of each ready input to tell its kind (input-kinds.ts); without it every unit is ffmpeg's. */
    private readonly store?: ObjectStore,
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
  async startIfReady(
    jobId: string,
    /** The caller has just recorded its input's kind (read from the bytes as they were stored). */
    options: { kindRead?: boolean } = {},
  ): Promise<number> {
    // The kind of each input (read from its first bytes, once) picks each unit's engine and queue.
    if (this.store && !options.kindRead) await detectStoredKinds(this.prisma, this.store, jobId);
    const started = await this.prisma.$transaction(async (tx) => {
      const locked = await tx.$queryRaw<
        {
          status: string;
          process: boolean;
          owner_key_hash: string;
          notify_status: boolean;
          callback: string | null;
          progress: number;
        }[]
      >`
        SELECT status, process, owner_key_hash, notify_status, callback, progress FROM jobs
        WHERE id = ${jobId}::uuid FOR UPDATE`;
      const gate = startGate(locked[0]);
      if (gate.go === 'no') return null;
      if (gate.go === 'resend') {
        // Already decided: send the queued units again. Their BullMQ ids are fixed, so units that
        // reached Redis are not duplicated, and a flow lost to an outage is restored.
        const queued = await tx.output.findMany({ where: { jobId, status: 'queued' } });
        if (!queued.length) return null;
        return {
          fresh: false as const,
          priority: 0,
          units: queued.map<PayloadOf<'convert'>>((o) => ({
            jobId,
            inputId: o.inputId,
            conversionId: o.conversionId,
            outputId: o.id,
            engine: o.engine as EngineName,
          })),
        };
      }
      // Both lists in one query (relation joins).
      const { inputs, conversions } = await tx.job.findUniqueOrThrow({
        where: { id: jobId },
        select: { inputs: { orderBy: { createdAt: 'asc' } }, conversions: { orderBy: { createdAt: 'asc' } } },
      });
      // Another ready input whose kind is unread (its reading failed earlier): read first, then start.
      if (options.kindRead && this.store && inputs.some(kindUnread)) return 'read-kinds' as const;
      const plan = planStart(locked[0], inputs, conversions);
      if (!plan.start) return null;
      if (plan.failInputIds.length) {
        await tx.input.updateMany({
          where: { id: { in: plan.failInputIds } },
          data: { status: 'failed', error: NOT_READY_AT_START },
        });
      }
      const rows = plan.units.map((u) => ({
        id: randomUUID(),
        conversionId: u.conversionId,
        inputId: u.inputId,
        engine: unitEngine(
          conversions.find((c) => c.id === u.conversionId)!.target,
          inputs.find((i) => i.id === u.inputId)!,
        ),
      }));
      // One statement for the writes (a small job's time is mostly round trips): the units, the job
      // and its conversions queued, every unit of the job (those made now and any made before: one
      // snapshot, so the second SELECT cannot see the first's rows), and the fair-share backlog.
      // Fair share between API keys: a unit's priority is its key's backlog, so one key's thousand
      // queued units do not starve another key's single one (BullMQ: lower number runs first).
      const stored = await tx.$queryRaw<
        { id: string; input_id: string; conversion_id: string; engine: string; backlog: number }[]
      >`
        WITH made AS (
          INSERT INTO outputs (id, job_id, conversion_id, input_id, status, engine)
          SELECT v.id, ${jobId}::uuid, v.conversion_id, v.input_id, 'queued', v.engine
          FROM unnest(${rows.map((r) => r.id)}::uuid[], ${rows.map((r) => r.conversionId)}::uuid[],
            ${rows.map((r) => r.inputId)}::uuid[], ${rows.map((r) => r.engine)}::text[])
            WITH ORDINALITY AS v(id, conversion_id, input_id, engine, ord)
          ORDER BY v.ord
          ON CONFLICT DO NOTHING
          RETURNING id, input_id, conversion_id, engine, created_at),
        conv AS (UPDATE conversions SET status = 'queued' WHERE job_id = ${jobId}::uuid),
        job AS (
          UPDATE jobs SET status = 'queued', status_info = '', started_at = now(), modified_at = now()
          WHERE id = ${jobId}::uuid),
        backlog AS (
          SELECT COUNT(*)::int AS n FROM outputs o JOIN jobs j ON j.id = o.job_id
          WHERE j.owner_key_hash = ${locked[0].owner_key_hash} AND o.status = 'queued' AND o.job_id <> ${jobId}::uuid),
        units AS (
          SELECT id, input_id, conversion_id, engine, created_at, 1 AS fresh FROM made
          UNION ALL
          SELECT id, input_id, conversion_id, engine, created_at, 0 FROM outputs WHERE job_id = ${jobId}::uuid)
        SELECT units.id, units.input_id, units.conversion_id, units.engine, backlog.n AS backlog
        FROM units, backlog ORDER BY units.fresh, units.created_at`;
      const backlog = stored[0]?.backlog ?? 0;
      const { notify_status, callback, progress } = locked[0];
      return {
        fresh: true as const,
        job: { notifyStatus: notify_status, callback, progress },
        priority: backlog,
        units: stored.map<PayloadOf<'convert'>>((o) => ({
          jobId,
          inputId: o.input_id,
          conversionId: o.conversion_id,
          outputId: o.id,
          engine: o.engine as EngineName,
        })),
      };
    });
    if (started === 'read-kinds') return this.startIfReady(jobId);
    if (!started) return 0;
    const { units, priority } = started;
    if (started.fresh) {
      // Announced before the units can start, so no listener hears `queued` after `processing`.
      await this.notifyStatus(jobId, 'queued', started.job);
      await this.events?.publish(jobId, 'queued', started.job.progress);
    }
    await this.producer.enqueueConversionFlow(jobId, units, {}, (i) => fairPriority(priority + i));
    if (!started.fresh) await this.announce(jobId);
    return units.length;
  }

  /** A process:true job whose bytes are arriving server-side (fetch, assembly) shows `downloading`. */
  async markDownloading(jobId: string): Promise<void> {
    const changed = await this.prisma.job.updateMany({
      where: { id: jobId, status: 'incomplete', process: true },
      data: { status: 'downloading', statusInfo: '' },
    });
    if (!changed.count) return;
    await this.notifyStatus(jobId, 'downloading');
    await this.announce(jobId);
  }

  /**
   * An input that can never become ready. A process:true job left with no input that could still
   * start it fails (errors name the inputs) and its callback is sent; otherwise the job waits on.
   */
  async failInput(jobId: string, inputId: string, message: string, code = 'unprocessable'): Promise<void> {
    await this.prisma.input.updateMany({
      where: { id: inputId, status: { not: 'ready' } },
      data: { status: 'failed', error: message },
    });
    const done = await this.prisma.$transaction(async (tx) => {
      const locked = await tx.$queryRaw<{ status: string; process: boolean; callback: string | null }[]>`
        SELECT status, process, callback FROM jobs WHERE id = ${jobId}::uuid FOR UPDATE`;
      if (!waitsForInputs(locked[0])) return null;
      const outcome = inputFailureOutcome(locked[0], await tx.input.findMany({ where: { jobId } }), inputId, code);
      if (outcome.next === 'try-start') return 'maybe-start';
      if (outcome.next !== 'fail') return null;
      await tx.job.update({
        where: { id: jobId },
        data: {
          status: 'failed',
          statusInfo: '',
          errors: outcome.errors as object[],
          finishedAt: new Date(),
          progress: 100,
        },
      });
      return outcome.callback ? 'failed' : 'failed-silent';
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
    // One statement (a small job's time is mostly round trips): the claim, and the first claim of the
    // job moving it to processing, with what its notice and event need.
    const claimed = await this.prisma.$queryRaw<
      {
        attempt: number;
        moved: boolean;
        notify_status: boolean | null;
        callback: string | null;
        progress: number | null;
      }[]
    >`
      WITH claim AS (
        UPDATE outputs SET status = 'processing', started_at = now(), heartbeat_at = now(), progress = 0,
          attempt = attempt + 1, lease = ${lease}::uuid
        WHERE id = ${outputId}::uuid AND job_id = ${jobId}::uuid AND status IN ('queued', 'processing')
          AND attempt < ${this.units.maxAttempts}
          AND EXISTS (SELECT 1 FROM jobs WHERE id = ${jobId}::uuid AND status IN ('queued', 'processing'))
        RETURNING attempt),
      moved AS (
        UPDATE jobs SET status = 'processing', status_info = '', modified_at = now()
        WHERE id = ${jobId}::uuid AND status = 'queued' AND EXISTS (SELECT 1 FROM claim)
        RETURNING notify_status, callback, progress)
      SELECT claim.attempt, moved.progress IS NOT NULL AS moved, moved.notify_status, moved.callback, moved.progress
      FROM claim LEFT JOIN moved ON true`;
    if (!claimed.length) {
      // Claims ran out: every earlier attempt crashed or was lost. The unit fails for good.
      const spent = await this.prisma.output.findFirst({
        where: {
          id: outputId,
          jobId,
          status: { in: ['queued', 'processing'] },
          attempt: { gte: this.units.maxAttempts },
        },
        select: { attempt: true },
      });
      if (spent) {
        const { code, message } = attemptsExhausted(spent.attempt);
        await this.failUnit(jobId, outputId, code, message);
      }
      return null;
    }
    const [row] = claimed;
    if (row.moved) {
      await this.notifyStatus(jobId, 'processing', { notifyStatus: !!row.notify_status, callback: row.callback });
      await this.events?.publish(jobId, 'processing', row.progress ?? 0);
    }
    return { lease, attempt: row.attempt };
  }

  /**
   * Monotonic progress of one unit, from the converter holding `lease`; the job's progress is the
   * mean over its units. Also a heartbeat. False when the holder must stop: the job is being
   * canceled or has ended, or another attempt holds the unit (the durable form of a cancel, seen
   * even when the Redis cancel message never reached this converter).
   */
  async reportProgress(jobId: string, outputId: string, percent: number, lease: string): Promise<boolean> {
    const p = Math.max(0, Math.min(99, Math.floor(percent)));
    const changed = await this.prisma.$executeRaw`
      UPDATE outputs SET progress = GREATEST(progress, ${p}), heartbeat_at = now()
      WHERE id = ${outputId}::uuid AND status = 'processing' AND lease = ${lease}::uuid
        AND EXISTS (SELECT 1 FROM jobs WHERE id = ${jobId}::uuid AND status IN ('queued', 'processing'))`;
    if (changed) await this.refreshJobProgress(jobId);
    return changed > 0;
  }

  /**
   * The holder of `lease` is still working on the unit (the reconciler leaves a unit with a fresh
   * heartbeat alone). False when it must stop, as for reportProgress.
   */
  async heartbeat(jobId: string, outputId: string, lease: string): Promise<boolean> {
    const changed = await this.prisma.$executeRaw`
      UPDATE outputs SET heartbeat_at = now()
      WHERE id = ${outputId}::uuid AND status = 'processing' AND lease = ${lease}::uuid
        AND EXISTS (SELECT 1 FROM jobs WHERE id = ${jobId}::uuid AND status IN ('queued', 'processing'))`;
    return changed > 0;
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
    file: Pick<Output, 'objectKey' | 'filename' | 'size' | 'contentType' | 'checksumSha256'> & {
      /** Every file of a many-file output (HLS, PDF pages), the first being the output itself. */
      files?: { name: string; key: string; size: number; content_type: string; sha256: string }[];
    },
  ): Promise<boolean> {
    // One statement: the file recorded while `lease` holds the unit, and the job's progress with it
    // (one snapshot: the mean counts this unit as done when it was recorded here).
    const [row] = await this.prisma.$queryRaw<
      { won: number; status: string | null; progress: number | null; changed: boolean | null }[]
    >`
      WITH won AS (
        UPDATE outputs SET object_key = ${file.objectKey}, filename = ${file.filename}, size = ${file.size},
          content_type = ${file.contentType}, checksum_sha256 = ${file.checksumSha256},
          files = ${file.files ? JSON.stringify(file.files) : null}::jsonb, status = 'completed', progress = 100,
          finished_at = now(), error = NULL, error_code = NULL
        WHERE id = ${outputId}::uuid AND job_id = ${jobId}::uuid AND lease = ${lease}::uuid AND status = 'processing'
          AND EXISTS (SELECT 1 FROM jobs WHERE id = ${jobId}::uuid AND status IN ('queued', 'processing'))
        RETURNING id),
      job AS (
        UPDATE jobs SET progress = GREATEST(jobs.progress, (
          SELECT COALESCE(FLOOR(AVG(CASE WHEN o.id IN (SELECT id FROM won) OR o.status IN ('completed', 'failed')
            THEN 100 ELSE o.progress END)), 0)::int
          FROM outputs o WHERE o.job_id = ${jobId}::uuid)), modified_at = now()
        FROM (SELECT progress AS before FROM jobs WHERE id = ${jobId}::uuid) b
        WHERE jobs.id = ${jobId}::uuid AND jobs.status IN ('queued', 'processing') AND EXISTS (SELECT 1 FROM won)
        RETURNING jobs.status, jobs.progress, jobs.progress <> b.before AS changed)
      SELECT (SELECT COUNT(*) FROM won)::int AS won, job.status, job.progress, job.changed
      FROM (SELECT 1) one LEFT JOIN job ON true`;
    if (!row?.won) {
      // A repeat after a lost answer (the database committed, the connection broke before the
      // reply): this attempt's file is already the unit's. Anything else lost the unit.
      const already = await this.prisma.output.count({
        where: { id: outputId, jobId, lease, status: 'completed', objectKey: file.objectKey },
      });
      return already > 0;
    }
    if (row.changed) await this.events?.publish(jobId, row.status as JobStatus, row.progress ?? 100);
    return true;
  }

  /**
   * A unit that cannot be converted. With `lease`, only while that claim still holds the unit (a
   * converter that lost it must not fail the winner's unit); without, any unit not yet ended
   * (finalize's units whose retries ran out, failures found before a claim).
   */
  async failUnit(jobId: string, outputId: string, code: string, message: string, lease?: string): Promise<boolean> {
    const failed = await this.prisma.output.updateMany({
      where: lease
        ? { id: outputId, jobId, lease, status: 'processing' }
        : { id: outputId, jobId, status: { notIn: ['completed', 'canceled'] } },
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
    let outcome = finalOutcome(job, job.inputs, job.outputs, job.conversions);
    if (outcome.decided) {
      // A unit whose convert job ended without recording an outcome (retries exhausted) failed.
      for (const id of outcome.stuckUnitIds)
        await this.failUnit(jobId, id, RETRIES_EXHAUSTED.code, RETRIES_EXHAUSTED.message);
      if (outcome.stuckUnitIds.length) {
        outcome = finalOutcome(
          job,
          job.inputs,
          await this.prisma.output.findMany({ where: { jobId } }),
          job.conversions,
        );
      }
    }
    let decided: { status: string; progress: number; callback: string | null } | undefined;
    if (outcome.decided) {
      const { status, errors } = outcome;
      // One statement (a small job's time is mostly round trips): the job's outcome, unless it was
      // stopped meanwhile, and each conversion's.
      const convs = outcome.conversions;
      const [moved] = await this.prisma.$queryRaw<{ count: number }[]>`
        WITH job AS (
          UPDATE jobs SET status = ${status}, status_info = '', errors = ${JSON.stringify(errors)}::jsonb,
            progress = 100, finished_at = now(), modified_at = now()
          WHERE id = ${jobId}::uuid AND status <> ALL(${[...STOPPED_JOB_STATUSES]}::text[])
          RETURNING id),
        conv AS (
          UPDATE conversions c SET status = v.status, progress = 100, error = v.error
          FROM unnest(${convs.map((c) => c.id)}::uuid[], ${convs.map((c) => c.status)}::text[],
            ${convs.map((c) => c.error)}::text[]) AS v(id, status, error)
          WHERE c.id = v.id)
        SELECT COUNT(*)::int AS count FROM job`;
      // Decided here: the row is known without reading it again.
      if (moved?.count) decided = { status, progress: 100, callback: job.callback };
    }
    const final = decided ?? (await this.prisma.job.findUniqueOrThrow({ where: { id: jobId } }));
    const status = final.status as JobStatus;
    // The live event and the callback's outbox row and queue entry, side by side.
    const [, callbackEnqueued] = await Promise.all([
      this.events?.publish(jobId, status, final.progress),
      // A job being canceled has no event yet: its cancel sends `job.canceled` once it is done.
      FINAL_JOB_STATUSES.includes(status) &&
        this.enqueueCallback(jobId, final.callback, `job.${status}` as CallbackEvent),
    ]);
    return { status, callbackEnqueued };
  }

  /**
   * online-convert's `notify_status`: a job that asked for it gets a callback on each status change
   * before its end too (`job.downloading`, `job.queued`, `job.processing`), through the same outbox
   * as its final event, each with its own delivery id. Called once, by whoever made the change.
   * A notice never fails the change it reports: its outbox row, once written, is resumed by the
   * reconciler when the queue could not take it.
   */
  private async notifyStatus(
    jobId: string,
    status: (typeof NOTIFIED_JOB_STATUSES)[number],
    /** The job's settings when the caller read them already (one round trip fewer). */
    known?: { notifyStatus: boolean; callback: string | null },
  ): Promise<void> {
    try {
      const job =
        known ??
        (await this.prisma.job.findUnique({
          where: { id: jobId },
          select: { notifyStatus: true, callback: true },
        }));
      if (job?.notifyStatus && job.callback) await this.enqueueCallback(jobId, job.callback, `job.${status}`);
    } catch {
      // See above: the reconciler resumes a pending row; a row never written loses only this notice.
    }
  }

  /**
   * Records the delivery in the outbox (PostgreSQL), then queues it. A lost queue entry is resumed
   * by the reconciler with the same delivery id; a delivery already final is not queued again.
   */
  async enqueueCallback(jobId: string, url: string | null, event: CallbackEvent): Promise<boolean> {
    if (!url) return false;
    const deliveryId = deliveryIdFor(jobId, event);
    // One statement: the row made when missing, else the state it has (the insert is not visible to
    // the second SELECT: one snapshot).
    const [row] = await this.prisma.$queryRaw<{ state: string }[]>`
      WITH made AS (
        INSERT INTO deliveries (delivery_id, job_id, event, state, attempts, created_at, updated_at)
        VALUES (${deliveryId}::uuid, ${jobId}::uuid, ${event}, 'pending', 0, now(), now())
        ON CONFLICT (delivery_id) DO NOTHING
        RETURNING state)
      SELECT state FROM made UNION ALL SELECT state FROM deliveries WHERE delivery_id = ${deliveryId}::uuid`;
    if (row?.state !== 'pending') return false;
    await this.sendDelivery(jobId, event);
    return true;
  }

  /** Queues a pending delivery (again): its BullMQ id is its delivery id, so a live one is not duplicated. */
  async sendDelivery(jobId: string, event: CallbackEvent): Promise<void> {
    await this.producer.enqueue(
      'callback',
      { jobId, event, deliveryId: deliveryIdFor(jobId, event) },
      {
        attempts: this.callbacks.attempts,
        backoff: { type: 'exponential', delay: this.callbacks.backoffMs, jitter: 0.3 },
      },
    );
  }

  /** How many attempts a delivery gets in all, across queue losses (the outbox counts them). */
  get callbackAttempts(): number {
    return this.callbacks.attempts;
  }
}
