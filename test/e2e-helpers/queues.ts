// Waiting on Kiln's BullMQ queues from a test: "nothing more will be sent" is a queue with no
// waiting, prioritized, delayed or running job, not a pause.
import { Queue } from 'bullmq';
import { createRedis, type RedisClient } from '../../libs/queue/src';
import { waitFor } from '../stack';

/** Waits until `queue` (under `prefix`) holds no work, and `also()` holds (e.g. the callback arrived). */
export async function untilQueueIdle(
  connection: RedisClient | string,
  prefix: string,
  queue: string,
  what: string,
  also: () => boolean = () => true,
  timeoutMs = 60_000,
): Promise<void> {
  const redis = typeof connection === 'string' ? createRedis(connection, 'client') : connection;
  const q = new Queue(queue, { connection: redis, prefix });
  try {
    await waitFor(
      what,
      async () => {
        const c = await q.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
        return Object.values(c).every((n) => n === 0) && also();
      },
      timeoutMs,
      250,
    );
  } finally {
    await q.close();
    if (typeof connection === 'string') redis.disconnect();
  }
}

/** The queues of one job's conversion: its units, the flow's parent that waits for them, its callbacks. */
export const JOB_QUEUES = ['convert', 'convert-vips', 'convert-office', 'finalize', 'callback'] as const;

/**
 * Waits until none of `queues` holds work: nothing waiting, prioritized, running or delayed, and no
 * flow parent still waiting for its children (`waiting-children`, e.g. a finalize whose units run).
 */
export async function untilQueuesIdle(
  connection: string,
  prefix: string,
  queues: readonly string[],
  what: string,
  also: () => boolean | Promise<boolean> = () => true,
  timeoutMs = 60_000,
): Promise<void> {
  const redis = createRedis(connection, 'client');
  const open = queues.map((name) => new Queue(name, { connection: redis, prefix }));
  try {
    await waitFor(
      what,
      async () => {
        for (const q of open) {
          const c = await q.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'waiting-children');
          if (Object.values(c).some((n) => n > 0)) return false;
        }
        return also();
      },
      timeoutMs,
      250,
    );
  } finally {
    await Promise.all(open.map((q) => q.close()));
    redis.disconnect();
  }
}
