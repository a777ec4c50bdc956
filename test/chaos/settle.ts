// "Nothing moves any more": the chaos run waits until every job has ended, no delivery is pending
// in the outbox and no queue holds work; or until nothing at all has changed (jobs, units,
// deliveries, queues, callbacks received) for a while, and then the jobs not ended are stuck.
import { Queue } from 'bullmq';
import type { Client } from 'pg';
import { createRedis } from '../../libs/queue/src';
import type { CallbackReceiver } from '../callback-receiver';
import { sleep } from '../stack';

const QUEUES = ['assemble', 'convert', 'finalize', 'callback'];
const STATES = ['waiting', 'prioritized', 'active', 'delayed', 'waiting-children'] as const;

/** Resolves with how it ended, in words. */
export async function untilNothingMoves(
  db: Client,
  redisUrl: string,
  prefix: string,
  ids: string[],
  receiver: CallbackReceiver,
  log: (msg: string) => void,
  quietMs = 60_000,
  capMs = 300_000,
): Promise<string> {
  const redis = createRedis(redisUrl, 'client');
  const queues = QUEUES.map((name) => new Queue(name, { connection: redis, prefix }));
  const started = Date.now();
  let last = '';
  let since = Date.now();
  try {
    for (;;) {
      const jobs = await db.query<{ status: string; n: number }>(
        'SELECT status, COUNT(*)::int AS n FROM jobs WHERE id = ANY($1::uuid[]) GROUP BY status ORDER BY status',
        [ids],
      );
      const units = await db.query<{ status: string; n: number; a: number }>(
        `SELECT status, COUNT(*)::int AS n, SUM(attempt)::int AS a FROM outputs
          WHERE job_id = ANY($1::uuid[]) GROUP BY status ORDER BY status`,
        [ids],
      );
      const outbox = await db.query<{ state: string; n: number; a: number }>(
        'SELECT state, COUNT(*)::int AS n, SUM(attempts)::int AS a FROM deliveries GROUP BY state ORDER BY state',
      );
      const counts: Record<string, number> = {};
      for (const q of queues) {
        const c = await q.getJobCounts(...STATES).catch(() => ({}) as Record<string, number>);
        for (const [k, v] of Object.entries(c)) if (v) counts[`${q.name}:${k}`] = v;
      }
      const open = jobs.rows.filter((r) => !['completed', 'failed', 'canceled'].includes(r.status));
      const pending = outbox.rows.find((r) => r.state === 'pending');
      const state = JSON.stringify([jobs.rows, units.rows, outbox.rows, counts, receiver.received.length]);
      const elapsed = Math.round((Date.now() - started) / 1000);
      if (!open.length && !pending && !Object.keys(counts).length)
        return `settled after ${elapsed} s: every job ended, no delivery pending, no queue holds work`;
      if (state !== last) {
        last = state;
        since = Date.now();
        log(
          `draining: jobs ${JSON.stringify(jobs.rows.map((r) => [r.status, r.n]))}, queues ${JSON.stringify(counts)}`,
        );
      } else if (Date.now() - since > quietMs)
        return `nothing moved for ${quietMs / 1000} s (after ${elapsed} s): jobs ${JSON.stringify(open)}, pending deliveries ${pending?.n ?? 0}, queues ${JSON.stringify(counts)}`;
      if (Date.now() - started > capMs)
        return `still moving after ${capMs / 1000} s: jobs ${JSON.stringify(open)}, queues ${JSON.stringify(counts)}`;
      await sleep(2_000);
    }
  } finally {
    await Promise.all(queues.map((q) => q.close()));
    redis.disconnect();
  }
}
