import { FlowProducer, Queue, type JobsOptions } from 'bullmq';
import type { RedisClient } from './connection';
import { convertQueueFor, jobIdFor, QueueName, type PayloadOf } from '@kiln/contracts';

/** Default options per queue: retries for crashes and transient errors, bounded history in Redis. */
export const QUEUE_JOB_DEFAULTS: Record<QueueName, JobsOptions> = {
  assemble: { attempts: 5, backoff: { type: 'exponential', delay: 1_000 } },
  fetch: { attempts: 3, backoff: { type: 'exponential', delay: 2_000 } },
  convert: { attempts: 3, backoff: { type: 'exponential', delay: 2_000 } },
  'convert-vips': { attempts: 3, backoff: { type: 'exponential', delay: 2_000 } },
  'convert-office': { attempts: 3, backoff: { type: 'exponential', delay: 2_000 } },
  finalize: { attempts: 10, backoff: { type: 'exponential', delay: 1_000 } },
  callback: { attempts: 8, backoff: { type: 'exponential', delay: 2_000 } },
  maintenance: { attempts: 1 },
};

const HISTORY: JobsOptions = {
  removeOnComplete: { age: 24 * 3600, count: 5_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
};

/** Redis did not take a queue write in time: callers answer 503 (the id-keyed write may still land later, harmlessly). */
export class QueueUnavailableError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(what: string, ms: number) {
    super(`the queue did not accept ${what} within ${ms} ms (Redis unreachable?)`);
    this.name = 'QueueUnavailableError';
  }
}

/** A queue write never waits longer than this (BullMQ would wait for a connection without limit). */
export const QUEUE_WRITE_DEADLINE_MS = 5_000;

function withDeadline<T>(what: string, work: Promise<T>, ms = QUEUE_WRITE_DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QueueUnavailableError(what, ms)), ms);
  });
  work.catch(() => undefined); // a late failure after the deadline is not unhandled
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

export interface QueueCounts {
  /** In the `wait` list: jobs added without a priority. */
  waiting: number;
  /** In the `prioritized` set: jobs added with a priority (every convert unit, by the fair share). */
  prioritized: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
  'waiting-children': number;
}

/** Typed producer: one place derives job ids from payloads, so re-enqueueing a unit is a no-op. */
export class QueueProducer {
  private readonly queues = new Map<QueueName, Queue>();
  private flows?: FlowProducer;

  constructor(
    private readonly connection: RedisClient,
    private readonly prefix: string,
  ) {}

  queue(name: QueueName): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: this.prefix });
      this.queues.set(name, q);
    }
    return q;
  }

  async enqueue<Q extends QueueName>(name: Q, payload: PayloadOf<Q>, options: JobsOptions = {}): Promise<string> {
    const jobId = jobIdFor(name, payload);
    await withDeadline(
      jobId,
      this.queue(name).add(name, payload, { ...HISTORY, ...QUEUE_JOB_DEFAULTS[name], ...options, jobId }),
    );
    return jobId;
  }

  /**
   * One convert job per input × conversion, on its engine's queue (`convert`, `convert-vips`,
   * `convert-office`), under one `finalize` parent that runs once every child has ended, failed or
   * not (a failed unit is recorded in the database and judged by finalize).
   */
  async enqueueConversionFlow(
    jobId: string,
    units: PayloadOf<'convert'>[],
    convertOptions: JobsOptions = {},
    priorityOf?: (index: number) => number,
  ): Promise<void> {
    this.flows ??= new FlowProducer({ connection: this.connection, prefix: this.prefix });
    const parent: PayloadOf<'finalize'> = { jobId };
    await withDeadline(
      `the flow of job ${jobId}`,
      this.flows.add({
        name: QueueName.finalize,
        queueName: QueueName.finalize,
        data: parent,
        opts: { ...HISTORY, ...QUEUE_JOB_DEFAULTS.finalize, jobId: jobIdFor('finalize', parent) },
        children: units.map((unit, index) => ({
          name: convertQueueFor(unit.engine),
          queueName: convertQueueFor(unit.engine),
          data: unit,
          opts: {
            ...HISTORY,
            ...QUEUE_JOB_DEFAULTS[convertQueueFor(unit.engine)],
            ...convertOptions,
            ...(priorityOf ? { priority: priorityOf(index) } : {}),
            jobId: jobIdFor(convertQueueFor(unit.engine), unit),
            ignoreDependencyOnFailure: true,
          },
        })),
      }),
    );
  }

  async counts(name: QueueName): Promise<QueueCounts> {
    const c = await this.queue(name).getJobCounts(
      'waiting',
      'prioritized',
      'active',
      'delayed',
      'failed',
      'completed',
      'waiting-children',
    );
    return c as unknown as QueueCounts;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    await this.flows?.close();
    this.queues.clear();
  }
}
