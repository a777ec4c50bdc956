// Redis loses everything while work is in flight: our own redis-server (no AOF, no RDB) is killed
// with SIGKILL while 20 jobs are queued and running on 2 converters, and comes back EMPTY on the
// same port. Every queued unit, flow parent, callback job and maintenance scheduler is gone; only
// PostgreSQL (the ledger) remembers. The assembler's reconciler (a timer, small interval and grace
// here) must re-drive what was lost. Every job must end completed, once: one completed output row
// and one object in the bucket per unit, one delivered outbox row, one 2xx attempt and one POST at
// the receiver per job. The reconciler's own counters show it did the repairs.
// The machine's Redis and PostgreSQL are never stopped.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from 'pg';
import { makeAudio, makeImage, makeTempDir, makeVideo } from '../libs/media/src/testing';
import { CallbackReceiver } from '../test/callback-receiver';
import { auditJobs } from '../test/chaos/ledger-audit';
import { reconcilerRepairs, repairLogLines } from '../test/chaos/repairs';
import { alive, problems } from '../test/e2e-helpers/app-logs';
import { databaseOf, sha256Of } from '../test/e2e-helpers/deliveries';
import { submitJob } from '../test/e2e-helpers/jobs';
import { objectStoreOf } from '../test/e2e-helpers/object-store';
import { JOB_QUEUES, untilQueuesIdle } from '../test/e2e-helpers/queues';
import { ffmpegChildren } from '../test/processes';
import { RedisServer } from '../test/redis-server';
import { Stack, freePort, waitFor } from '../test/stack';

jest.setTimeout(300_000);

/** Units, jobs and queue entries younger than this are left alone by the reconciler. */
const GRACE_MS = 4_000;

async function count(db: Client, sql: string, params: unknown[] = []): Promise<number> {
  return (await db.query<{ n: number }>(sql, params)).rows[0].n;
}

describe('Redis killed and restarted empty while 20 jobs are queued and running', () => {
  const redis = new RedisServer({ appendonly: false });
  const stack = new Stack();
  const receiver = new CallbackReceiver();
  let tmp: { dir: string; remove: () => Promise<void> };
  let db: Client;
  let metricsUrl = '';
  const files: { name: string; bytes: Buffer; conversion: unknown }[] = [];

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-redis-lost-');
    const at = (name: string) => path.join(tmp.dir, name);
    const video = await readFile(
      await makeVideo({ path: at('clip.mp4'), seconds: 8, width: 640, height: 360, audio: true }),
    );
    const wav = await readFile(await makeAudio({ path: at('tone.wav'), seconds: 3, format: 'wav' }));
    const png = await readFile(await makeImage({ path: at('frame.png'), width: 640, height: 480 }));
    // Videos spread through the list keep both converters busy while later jobs wait in the queue.
    for (let i = 0; i < 20; i++) {
      if (i % 3 === 0) files.push({ name: `clip-${i}.mp4`, bytes: video, conversion: { target: 'mp4' } });
      else if (i % 3 === 1) files.push({ name: `tone-${i}.wav`, bytes: wav, conversion: { target: 'mp3' } });
      else files.push({ name: `frame-${i}.png`, bytes: png, conversion: { target: 'jpg' } });
    }
    await redis.start();
    await receiver.start();
    const assemblerPort = await freePort();
    metricsUrl = `http://127.0.0.1:${assemblerPort}`;
    await stack.start({
      converters: 2,
      env: {
        REDIS_URL: redis.url,
        KILN_RECONCILE_INTERVAL_MS: '1000',
        KILN_RECONCILE_GRACE_MS: String(GRACE_MS),
      },
      placement: (app) =>
        app === 'assembler'
          ? { env: { KILN_WORKER_HTTP_PORT: String(assemblerPort), KILN_HOST: '127.0.0.1' } }
          : undefined,
    });
    db = await databaseOf(stack);
  });

  afterAll(async () => {
    await db?.end();
    await stack.stop();
    await receiver.stop();
    await redis.destroy();
    await tmp?.remove();
  });

  it('re-drives everything Redis lost: each job completes once, with one output and one callback', async () => {
    const jobs: string[] = [];
    for (const f of files) jobs.push(await submitJob(stack, f.bytes, f.name, f.conversion, receiver.url));
    const converters = stack.apps.filter((a) => a.app === 'converter');
    // The kill lands with work in every state: some jobs done (callback sent), both converters
    // inside ffmpeg, and units still waiting in the queue.
    await waitFor(
      'some jobs done, ffmpeg running in both converters, units still queued',
      async () => {
        const done = await count(db, "SELECT COUNT(*)::int AS n FROM jobs WHERE status = 'completed'");
        const queued = await count(db, "SELECT COUNT(*)::int AS n FROM outputs WHERE status = 'queued'");
        return done >= 2 && queued >= 5 && converters.every((c) => ffmpegChildren(c.child.pid!).length > 0);
      },
      120_000,
      100,
    );
    const byStatus = async () =>
      Object.fromEntries(
        (
          await db.query<{ status: string; n: number }>(
            'SELECT status, COUNT(*)::int AS n FROM outputs GROUP BY status ORDER BY status',
          )
        ).rows.map((r) => [r.status, r.n]),
      );
    const atKill = await byStatus();
    const completedAtKill = atKill.completed ?? 0;

    await redis.cli('SET', 'kiln-test:sentinel', 'before the kill');
    await redis.kill(); // SIGKILL: no AOF, no RDB, nothing is kept
    // Conversions go on without Redis: a unit running at the kill is recorded in PostgreSQL.
    await waitFor(
      'a unit completed while Redis is down',
      async () =>
        (await count(db, "SELECT COUNT(*)::int AS n FROM outputs WHERE status = 'completed'")) > completedAtKill,
      120_000,
      100,
    );
    await redis.start(); // same port, empty
    const prefix = stack.env.KILN_QUEUE_PREFIX;
    // Nothing survived (a key no app writes: the apps themselves refill Redis at once).
    expect((await redis.cli('EXISTS', 'kiln-test:sentinel')).trim()).toBe('0');

    await waitFor(
      'every job ended',
      async () =>
        (await count(
          db,
          "SELECT COUNT(*)::int AS n FROM jobs WHERE status NOT IN ('completed', 'failed', 'canceled')",
        )) === 0,
      180_000,
      500,
    ).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(await byStatus())}\n${problems(stack)}`);
    });
    // Nothing more will be sent: no queue holds work and no delivery is pending in the outbox.
    await untilQueuesIdle(
      redis.url,
      prefix,
      JOB_QUEUES,
      'the queues to drain and the outbox to settle',
      async () => (await count(db, "SELECT COUNT(*)::int AS n FROM deliveries WHERE state = 'pending'")) === 0,
      120_000,
    );

    const ledger = await auditJobs(db, objectStoreOf(stack), receiver, jobs);
    expect(ledger.map((l) => l.id).sort()).toEqual([...jobs].sort());
    for (const l of ledger) {
      const unit = l.units[0];
      expect({
        id: l.id,
        status: l.status,
        units: l.units.map((u) => u.status),
        objects: l.outputObjects,
        outbox: l.deliveries.map((d) => [d.event, d.state]),
        okAttempts: l.okAttemptRows,
        posts: l.posts,
      }).toEqual({
        id: l.id,
        status: 'completed',
        units: ['completed'],
        objects: [unit.objectKey],
        outbox: [['job.completed', 'delivered']],
        okAttempts: 1,
        posts: [{ event: 'job.completed', deliveryId: l.deliveries[0].deliveryId }],
      });
      // The object is the bytes the row describes.
      expect(await sha256Of(objectStoreOf(stack), unit.objectKey!)).toBe(unit.checksum);
    }

    // The reconciler did it (not luck, not a retry): queued units, flows and finalize were re-driven.
    const repairs = await reconcilerRepairs(metricsUrl);
    const assembler = stack.apps.find((a) => a.app === 'assembler')!;
    expect(repairs.units).toBeGreaterThan(0);
    expect(repairs.schedule).toBeGreaterThan(0); // the maintenance schedulers, lost with Redis
    expect(repairLogLines(assembler).length).toBeGreaterThan(0);
    expect(await redis.keys(`${prefix}:maintenance:repeat*`)).not.toEqual([]);
    expect(alive(stack.apps)).toBe(true);
    console.log(
      `redis lost: units at the kill ${JSON.stringify(atKill)}; reconciler repairs ${JSON.stringify(repairs)}; ` +
        `all ${jobs.length} jobs completed once`,
    );
  });
});
