// PostgreSQL (the ledger) cut off while conversions run: a TCP proxy in front of the stack's
// database destroys every connection and refuses new ones for longer than a progress write and a
// heartbeat, and until a conversion that was running at the cut has ended inside it (its output
// is written to S3 with nowhere to record it). Once the database is back every job must end
// completed once: one completed output row and one object in the bucket per unit (no second
// object from a retried attempt), one delivered outbox row, one 2xx attempt and one POST at the
// receiver per job, and nothing left in the queues or the outbox.
// The machine's PostgreSQL is never stopped.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from 'pg';
import { adminUrl } from '../libs/database/src/testing/test-database';
import { makeAudio, makeTempDir, makeVideo } from '../libs/media/src/testing';
import { CallbackReceiver } from '../test/callback-receiver';
import { auditJobs } from '../test/chaos/ledger-audit';
import { alive, problems } from '../test/e2e-helpers/app-logs';
import { databaseOf, sha256Of } from '../test/e2e-helpers/deliveries';
import { submitJob } from '../test/e2e-helpers/jobs';
import { objectStoreOf } from '../test/e2e-helpers/object-store';
import { JOB_QUEUES, untilQueuesIdle } from '../test/e2e-helpers/queues';
import { ffmpegChildren } from '../test/processes';
import { RedisServer } from '../test/redis-server';
import { Stack, waitFor } from '../test/stack';
import { TcpProxy } from '../test/tcp-proxy';

jest.setTimeout(300_000);

/** The cut lasts at least this long: several progress writes and heartbeats (one a second) fail. */
const MIN_CUT_MS = 4_000;

async function count(db: Client, sql: string): Promise<number> {
  return (await db.query<{ n: number }>(sql)).rows[0].n;
}

describe('PostgreSQL cut while conversions run', () => {
  const upstream = new URL(adminUrl());
  const proxy = new TcpProxy({ host: upstream.hostname, port: Number(upstream.port || 5432) });
  const redis = new RedisServer({ appendonly: false });
  const stack = new Stack();
  const receiver = new CallbackReceiver();
  let tmp: { dir: string; remove: () => Promise<void> };
  let db: Client;
  const files: { name: string; bytes: Buffer; conversion: unknown }[] = [];

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-pg-cut-');
    const video = await readFile(
      await makeVideo({ path: path.join(tmp.dir, 'clip.mp4'), seconds: 8, width: 640, height: 360, audio: true }),
    );
    const wav = await readFile(await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 20, format: 'wav' }));
    for (let i = 0; i < 10; i++)
      files.push(
        i % 2 === 0
          ? { name: `clip-${i}.mp4`, bytes: video, conversion: { target: 'mp4' } }
          : { name: `tone-${i}.wav`, bytes: wav, conversion: { target: 'mp3' } },
      );
    await proxy.start();
    await redis.start();
    await receiver.start();
    await stack.start({
      converters: 2,
      databaseAddress: { host: proxy.host, port: proxy.port },
      env: { REDIS_URL: redis.url, KILN_RECONCILE_INTERVAL_MS: '1000', KILN_RECONCILE_GRACE_MS: '5000' },
    });
    db = await databaseOf(stack); // the test's own connection does not go through the proxy
  });

  afterAll(async () => {
    await db?.end();
    await stack.stop();
    await proxy.stop();
    await receiver.stop();
    await redis.destroy();
    await tmp?.remove();
  });

  it('every job completes once, with one output object and one callback', async () => {
    const jobs: string[] = [];
    for (const f of files) jobs.push(await submitJob(stack, f.bytes, f.name, f.conversion, receiver.url));
    const converters = stack.apps.filter((a) => a.app === 'converter');
    const running = () => converters.flatMap((c) => ffmpegChildren(c.child.pid!));
    await waitFor(
      'ffmpeg running in both converters, a job done, units queued',
      async () =>
        converters.every((c) => ffmpegChildren(c.child.pid!).length > 0) &&
        (await count(db, "SELECT COUNT(*)::int AS n FROM jobs WHERE status = 'completed'")) >= 1 &&
        (await count(db, "SELECT COUNT(*)::int AS n FROM outputs WHERE status = 'queued'")) >= 2,
      120_000,
      100,
    );
    const pids = stack.apps.map((a) => a.child.pid);
    const atCut = running();
    await proxy.cut();
    const cutAt = Date.now();
    // A conversion running at the cut ends inside it: its file has nowhere to be recorded.
    await waitFor(
      'a conversion running at the cut to end while the database is away',
      async () => Date.now() - cutAt >= MIN_CUT_MS && atCut.some((pid) => !running().includes(pid)),
      120_000,
      100,
    );
    // The gateway answers 503 meanwhile (the apps really lost the database).
    expect((await stack.api(`/v1/jobs/${jobs[0]}`)).status).toBe(503);
    await proxy.restore();
    const cutMs = Date.now() - cutAt;

    await waitFor(
      'every job ended',
      async () =>
        (await count(
          db,
          "SELECT COUNT(*)::int AS n FROM jobs WHERE status NOT IN ('completed', 'failed', 'canceled')",
        )) === 0,
      180_000,
      500,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${problems(stack)}`);
    });
    await untilQueuesIdle(
      redis.url,
      stack.env.KILN_QUEUE_PREFIX,
      JOB_QUEUES,
      'the queues to drain and the outbox to settle',
      async () => (await count(db, "SELECT COUNT(*)::int AS n FROM deliveries WHERE state = 'pending'")) === 0,
      120_000,
    );

    const store = objectStoreOf(stack);
    const ledger = await auditJobs(db, store, receiver, jobs);
    expect(ledger.map((l) => l.id).sort()).toEqual([...jobs].sort());
    for (const l of ledger) {
      const unit = l.units[0];
      expect({
        id: l.id,
        status: l.status,
        errors: l.errors,
        units: l.units.map((u) => u.status),
        objects: l.outputObjects,
        outbox: l.deliveries.map((d) => [d.event, d.state]),
        okAttempts: l.okAttemptRows,
        posts: l.posts,
      }).toEqual({
        id: l.id,
        status: 'completed',
        errors: [],
        units: ['completed'],
        objects: [unit.objectKey],
        outbox: [['job.completed', 'delivered']],
        okAttempts: 1,
        posts: [{ event: 'job.completed', deliveryId: l.deliveries[0].deliveryId }],
      });
      expect(await sha256Of(store, unit.objectKey!)).toBe(unit.checksum);
    }
    // The same processes carried on (none crashed or was restarted).
    expect(stack.apps.map((a) => a.child.pid)).toEqual(pids);
    expect(alive(stack.apps)).toBe(true);
    const attempts = ledger.map((l) => l.units[0].attempt);
    console.log(
      `postgres cut ${(cutMs / 1000).toFixed(1)} s with ${atCut.length} ffmpeg running; ` +
        `unit claims per job ${JSON.stringify(attempts)}; all ${jobs.length} jobs completed once`,
    );
  });
});
