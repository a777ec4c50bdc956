import { Worker, type Job } from 'bullmq';
import type { RedisClient } from './connection';
import type { HandlerOutcome, PayloadOf, QueueName } from '@kiln/contracts';

export interface HandlerContext {
  job: Job;
  /** Aborted when the worker is closing past its grace period. */
  signal: AbortSignal;
  attempt: number;
  /** True when BullMQ will not retry this job after a thrown error. */
  isLastAttempt: boolean;
}

/** One handler per queue; expected failures are returned as outcomes, thrown errors are retried. */
export interface JobHandler<Q extends QueueName = QueueName> {
  readonly queue: Q;
  handle(payload: PayloadOf<Q>, context: HandlerContext): Promise<HandlerOutcome>;
}

export interface WorkerLog {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

export interface WorkerHostOptions {
  connection: RedisClient;
  prefix: string;
  /** The queues this process consumes, with their concurrency. */
  consumes: Partial<Record<QueueName, { concurrency: number; lockDurationMs?: number }>>;
  log: WorkerLog;
}

/** Refuses to start when a consumed queue has no handler, or two. */
export function indexHandlers(handlers: JobHandler[], consumes: QueueName[]): Map<QueueName, JobHandler> {
  const byQueue = new Map<QueueName, JobHandler>();
  for (const h of handlers) {
    if (byQueue.has(h.queue)) throw new Error(`two handlers for queue "${h.queue}"`);
    byQueue.set(h.queue, h);
  }
  for (const q of consumes) if (!byQueue.has(q)) throw new Error(`no handler for queue "${q}"`);
  for (const q of byQueue.keys())
    if (!consumes.includes(q)) throw new Error(`handler for queue "${q}" that this process does not consume`);
  return byQueue;
}

/** Runs BullMQ workers for a set of handlers and closes them gracefully. */
export class WorkerHost {
  private readonly workers: Worker[] = [];
  private readonly abort = new AbortController();

  constructor(
    private readonly handlers: JobHandler[],
    private readonly options: WorkerHostOptions,
  ) {}

  get queues(): QueueName[] {
    return Object.keys(this.options.consumes) as QueueName[];
  }

  /** Queues whose BullMQ worker is not taking work (not started, stopped or closing). */
  stoppedQueues(): QueueName[] {
    if (this.workers.length === 0) return this.queues;
    return this.workers.filter((w) => !w.isRunning() || w.closing !== undefined).map((w) => w.name as QueueName);
  }

  /** Every BullMQ worker of this host is running and none is closing (readiness). */
  isRunning(): boolean {
    return this.stoppedQueues().length === 0;
  }

  async start(): Promise<void> {
    const byQueue = indexHandlers(this.handlers, this.queues);
    const { log } = this.options;
    for (const [queue, handler] of byQueue) {
      const settings = this.options.consumes[queue]!;
      const worker = new Worker(
        queue,
        async (job: Job) => {
          const attempts = job.opts.attempts ?? 1;
          const context: HandlerContext = {
            job,
            signal: this.abort.signal,
            attempt: job.attemptsMade + 1,
            isLastAttempt: job.attemptsMade + 1 >= attempts,
          };
          const started = Date.now();
          const outcome = await handler.handle(job.data, context);
          const fields = { queue, bullJobId: job.id, ...job.data, outcome: outcome.status, ms: Date.now() - started };
          if (outcome.status === 'failed')
            log.warn({ ...fields, code: outcome.code, reason: outcome.message }, 'job handled with a failure');
          else log.info(outcome.status === 'skipped' ? { ...fields, reason: outcome.reason } : fields, 'job handled');
          return outcome;
        },
        {
          connection: this.options.connection,
          prefix: this.options.prefix,
          concurrency: settings.concurrency,
          lockDuration: settings.lockDurationMs ?? 60_000,
          // A crashed worker's job is noticed within one interval after its lock expired.
          stalledInterval: Math.min(30_000, settings.lockDurationMs ?? 60_000),
          autorun: false,
        },
      );
      worker.on('failed', (job, err) =>
        log.error(
          { queue, bullJobId: job?.id, ...(job?.data ?? {}), attempt: job?.attemptsMade, err: err.message },
          'job attempt failed',
        ),
      );
      worker.on('error', (err) => log.error({ queue, err: err.message }, 'worker error'));
      this.workers.push(worker);
    }
    for (const w of this.workers) {
      void w.run().catch((err: unknown) => log.error({ queue: w.name, err: String(err) }, 'worker stopped'));
    }
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));
  }

  /** Stops taking work; waits up to `graceMs` for running jobs, then aborts them and closes. */
  async close(graceMs: number): Promise<void> {
    const closing = Promise.all(this.workers.map((w) => w.close()));
    const timer = setTimeout(() => this.abort.abort(new Error('shutdown grace period over')), graceMs);
    try {
      await closing;
    } finally {
      clearTimeout(timer);
    }
  }
}
