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
