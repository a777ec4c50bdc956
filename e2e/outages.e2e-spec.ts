// Dependencies going away and coming back, with the apps running as real processes:
// - Redis (our own instance, AOF on as in compose) restarted while jobs are queued and running:
//   every job still completes once and every callback is delivered once.
// - PostgreSQL cut off by a TCP proxy in front of it: requests answer 503 `unavailable` (JSON,
//   Retry-After), readiness names the database, and the same processes recover once it is back.
// Redis down at the moment a job starts is in outages-redis-down.e2e-spec.ts.
// The machine's own Redis and PostgreSQL are never stopped.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from 'pg';
import { adminUrl } from '../libs/database/src/testing/test-database';
import { makeAudio, makeTempDir, makeVideo } from '../libs/media/src/testing';
import { CallbackReceiver } from '../test/callback-receiver';
import { RedisServer } from '../test/redis-server';
import { ffmpegChildren } from '../test/processes';
import { TcpProxy } from '../test/tcp-proxy';
import { alive, logLines, problems } from '../test/e2e-helpers/app-logs';
import { databaseOf, outputRows } from '../test/e2e-helpers/deliveries';
import { ENDED, submitJob as submit } from '../test/e2e-helpers/jobs';
import { untilQueuesIdle } from '../test/e2e-helpers/queues';
import { Stack, json, sleep, waitFor } from '../test/stack';

jest.setTimeout(240_000);

describe('Redis restarted while jobs are queued and running', () => {
  const redis = new RedisServer({ appendonly: true });
  const stack = new Stack();
  const receiver = new CallbackReceiver();
  let tmp: { dir: string; remove: () => Promise<void> };
  let longVideo: Buffer;
  let shortVideo: Buffer;
  let wav: Buffer;
  let db: Client;

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-redis-outage-');
    longVideo = await readFile(
      await makeVideo({ path: path.join(tmp.dir, 'long.mp4'), seconds: 20, width: 1280, height: 720, audio: true }),
    );
    shortVideo = await readFile(
      await makeVideo({ path: path.join(tmp.dir, 'short.mp4'), seconds: 8, width: 1280, height: 720, audio: true }),
    );
    wav = await readFile(await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 2, format: 'wav' }));
    await redis.start();
    await receiver.start();
    await stack.start({
      converters: 2,
      env: { REDIS_URL: redis.url, KILN_FFMPEG_PRESET: 'medium', KILN_FFMPEG_THREADS: '1' },
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

  it('every job completes with one output and one callback delivery', async () => {
    const jobs: string[] = [];
    // Two video conversions first (one per converter): a long one that runs through the outage and
    // a short one that ends during it (its completion reaches Redis only after the restart). Then
    // four short ones that wait in the queue meanwhile.
    const slow = { target: 'mp4', options: { crf: 12 } };
    jobs.push(await submit(stack, longVideo, 'long.mp4', slow, receiver.url));
    jobs.push(await submit(stack, shortVideo, 'short.mp4', slow, receiver.url));
    for (let i = 0; i < 4; i++) jobs.push(await submit(stack, wav, `tone-${i}.wav`, { target: 'mp3' }, receiver.url));
    const converters = stack.apps.filter((a) => a.app === 'converter');
    await waitFor(
      'ffmpeg running in both converters',
      async () => converters.every((c) => ffmpegChildren(c.child.pid!).length > 0),
      60_000,
      100,
    );
    await waitFor(
      'the short video half done',
      async () => (await json(stack.api(`/v1/jobs/${jobs[1]}`))).progress >= 50,
      60_000,
      100,
    );
    const before = await Promise.all(
      jobs.map(async (id) => (await json(stack.api(`/v1/jobs/${id}`))).status.code as string),
    );
    expect(before.slice(0, 2)).toEqual(['processing', 'processing']);
    expect(before.slice(2).filter((s) => s === 'queued').length).toBeGreaterThan(0);

    const downAt = new Date();
    await redis.shutdown(); // AOF fsynced on shutdown
    // The conversions go on without Redis: the short one ends and is recorded in PostgreSQL while the
    // long one still runs.
    await waitFor(
      'the short video converted during the outage',
      async () => (await outputRows(db, jobs[1])).every((o) => o.status === 'completed'),
      90_000,
      100,
    );
    expect(converters.filter((c) => ffmpegChildren(c.child.pid!).length > 0).length).toBeGreaterThan(0);
    await redis.start(); // same port, same dir: the AOF is loaded
    const upAt = new Date();
    expect(Number(/^([0-9]+)/.exec(await redis.cli('DBSIZE'))?.[1])).toBeGreaterThan(0);

    const finals = await waitFor(
      'every job to end',
      async () => {
        const all = await Promise.all(jobs.map((id) => json(stack.api(`/v1/jobs/${id}`))));
        return all.every((j) => ENDED.includes(j.status.code)) ? all : undefined;
      },
      150_000,
      500,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${problems(stack)}`);
    });
    for (const f of finals) {
      expect({ id: f.id, status: f.status.code, errors: f.errors, outputs: f.output.length }).toEqual({
        id: f.id,
        status: 'completed',
        errors: [],
        outputs: 1,
      });
    }
    await waitFor('a callback per job', async () => jobs.every((id) => receiver.forJob(id).length > 0), 60_000).catch(
      (err: unknown) => {
        throw new Error(
          `${(err as Error).message}: ${jobs.map((id) => `${id}=${receiver.forJob(id).length}`).join(', ')}\n${problems(stack)}`,
        );
      },
    );
    // Nothing more is sent: no finalize or callback work is left in the queues.
    await untilQueuesIdle(redis.url, stack.env.KILN_QUEUE_PREFIX, ['finalize', 'callback'], 'the callbacks to settle');
    for (const id of jobs) {
      const got = receiver.forJob(id);
      expect({ id, events: got.map((g) => g.headers['x-kiln-event']) }).toEqual({ id, events: ['job.completed'] });
    }
    // Each unit was converted once (no second run after the restart).
    const converted = converters
      .flatMap((c) => logLines(c))
      .filter((l) => l.queue === 'convert' && l.outcome === 'success');
    expect(converted.map((l) => l.jobId).sort()).toEqual([...jobs].sort());
    const endedDuringOutage = converted.filter(
      (l) => l.time! > downAt.toISOString() && l.time! < upAt.toISOString(),
    ).length;
    expect(alive(stack.apps)).toBe(true);
    console.log(
      `redis outage: ${((upAt.getTime() - downAt.getTime()) / 1000).toFixed(1)} s; ${endedDuringOutage} conversion(s) ended during it; all ${jobs.length} jobs completed once`,
    );
  });
});

describe('PostgreSQL briefly unreachable (TCP proxy cut)', () => {
  const upstream = new URL(adminUrl());
  const proxy = new TcpProxy({ host: upstream.hostname, port: Number(upstream.port || 5432) });
  const stack = new Stack();
  const receiver = new CallbackReceiver();
  let tmp: { dir: string; remove: () => Promise<void> };

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-pg-outage-');
    await proxy.start();
    await receiver.start();
    await stack.start({ converters: 1, databaseAddress: { host: proxy.host, port: proxy.port } });
  });

  afterAll(async () => {
    await stack.stop();
    await proxy.stop();
    await receiver.stop();
    await tmp?.remove();
  });

  it('answers 503 unavailable while the database is gone and recovers without a restart', async () => {
    expect((await stack.api('/v1/jobs')).status).toBe(200);
    expect(proxy.accepted).toBeGreaterThan(0); // the apps really go through the proxy
    const pids = stack.apps.map((a) => a.child.pid);

    await proxy.cut();
    const cutAt = Date.now();
    // biome-ignore lint/suspicious/noExplicitAny: parsed JSON of any shape, checked by the assertions
    const answers: { status: number; body: any; retryAfter: string | null }[] = [];
    while (Date.now() - cutAt < 4_000) {
      const res = await stack.api('/v1/jobs');
      answers.push({
        status: res.status,
        body: await res.json().catch(() => null),
        retryAfter: res.headers.get('retry-after'),
      });
      await sleep(250);
    }
    const write = await stack.api('/v1/jobs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ process: false }),
    });
    answers.push({
      status: write.status,
      body: await write.json().catch(() => null),
      retryAfter: write.headers.get('retry-after'),
    });
    for (const a of answers) {
      expect(a).toEqual({
        status: 503,
        body: { error: expect.objectContaining({ code: 'unavailable', message: expect.any(String) }) },
        retryAfter: expect.stringMatching(/^\d+$/),
      });
    }
    const ready = await fetch(`${stack.url}/health/ready`);
    expect(ready.status).toBe(503);
    const readyBody = await json(ready);
    expect(readyBody.status).toBe('unavailable');
    expect(readyBody.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok])).toEqual([
      ['database', false],
      ['redis', true],
      ['storage', true],
    ]);

    await proxy.restore();
    // Recovery without a restart (bounded by the wait, not asserted as a speed).
    await waitFor('GET /v1/jobs 200 again', async () => (await stack.api('/v1/jobs')).status === 200, 20_000, 200);
    expect((await fetch(`${stack.url}/health/ready`)).status).toBe(200);
    // The same processes, none restarted.
    expect(stack.apps.map((a) => a.child.pid)).toEqual(pids);
    expect(alive(stack.apps)).toBe(true);

    // A new job goes end to end through gateway, converter and callback.
    const wav = await readFile(await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 1, format: 'wav' }));
    const id = await submit(stack, wav, 'tone.wav', { target: 'mp3' }, receiver.url);
    const final = await waitFor(
      'job end',
      async () => {
        const j = await json(stack.api(`/v1/jobs/${id}`));
        return ENDED.includes(j.status.code) ? j : undefined;
      },
      60_000,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${problems(stack)}`);
    });
    expect(final.status.code).toBe('completed');
    expect(final.output).toHaveLength(1);
    await waitFor('callback', async () => receiver.forJob(id)[0], 30_000);
  });
});
