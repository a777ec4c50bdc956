// Kiln on a real Redis Cluster: six redis-server processes in cluster mode (3 primaries, 3
// replicas), the apps connected with REDIS_CLUSTER_NODES (ioredis Cluster for every queue, worker,
// lock, limit and channel). Jobs complete; then, mid-run, the primary that owns Kiln's slot fails
// over, once by CLUSTER FAILOVER on its replica and once by SIGKILL. Every job must still end
// exactly once: one output, one delivered callback, one attempt in the deliveries ledger.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { createRedis, type RedisClient } from '../libs/queue/src';
import { makeAudio, makeTempDir } from '../libs/media/src/testing';
import { CallbackReceiver } from '../test/callback-receiver';
import { untilQueueIdle } from '../test/e2e-helpers/queues';
import { RedisCluster } from '../test/redis-cluster';
import { Stack, json, waitFor } from '../test/stack';

jest.setTimeout(300_000);

const run = promisify(execFile);
const ENDED = ['completed', 'failed', 'canceled'];
const ROOT = path.resolve(__dirname, '..');

describe('Redis Cluster (3 primaries, 3 replicas) with failover mid-run', () => {
  const cluster = new RedisCluster();
  const stack = new Stack();
  const receiver = new CallbackReceiver();
  const prefix = `{kiln-${randomBytes(4).toString('hex')}}`;
  let tmp: { dir: string; remove: () => Promise<void> };
  let wav: Buffer;
  let redis: RedisClient;
  let db: Client;
  const summary: string[] = [];
  /** Requests answered 503 `unavailable` (with Retry-After) while Redis failed over, then retried. */
  let unavailable = 0;

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-cluster6-');
    wav = await readFile(await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 6, format: 'wav' }));
    await cluster.start();
    await receiver.start();
    await stack.start({
      converters: 2,
      env: {
        REDIS_URL: '',
        REDIS_CLUSTER_NODES: cluster.seeds,
        KILN_QUEUE_PREFIX: prefix,
        KILN_FFMPEG_PRESET: 'medium',
      },
    });
    redis = createRedis({ clusterNodes: cluster.seeds.split(',') }, 'client');
    db = new Client({ connectionString: stack.db.url });
    db.on('error', () => undefined); // the database is dropped with the stack
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await stack.stop();
    await receiver.stop();
    redis?.disconnect();
    await cluster.destroy();
    await tmp?.remove();
    if (summary.length)
      console.log(`redis cluster:\n${summary.join('\n')}\nrequests answered 503 and retried: ${unavailable}`);
  });

  /** A client's request: a 503 (Redis failing over) is retried after its Retry-After, as the API asks. */
  async function withRetry(send: () => Promise<Response>): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      const res = await send();
      if (res.status !== 503 || attempt === 10) return res;
      const body = await json(res);
      expect({ code: body.error.code, retryAfter: Number(res.headers.get('retry-after')) > 0 }).toEqual({
        code: 'unavailable',
        retryAfter: true,
      });
      unavailable++;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }

  async function submit(): Promise<string> {
    const res = await withRetry(() =>
      stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          conversion: [{ target: 'mp3', options: { audio_bitrate: 320 } }],
          callback: receiver.url,
        }),
      }),
    );
    expect(res.status).toBe(201);
    const job = await json(res);
    const up = await withRetry(() => {
      const form = new FormData();
      form.append('file', new Blob([wav]), 'tone.wav');
      return stack.api(`/v1/jobs/${job.id}/upload`, { method: 'POST', body: form });
    });
    expect(up.status).toBe(201);
    return job.id;
  }

  async function statuses(ids: string[]): Promise<string[]> {
    const { rows } = await db.query<{ id: string; status: string }>(
      'SELECT id, status FROM jobs WHERE id = ANY($1::uuid[])',
      [ids],
    );
    return ids.map((id) => rows.find((r) => r.id === id)?.status ?? 'missing');
  }

  /** Waits for every job to end and every callback to be settled, then checks "exactly once" in the database and at the receiver. */
  async function expectExactlyOnce(ids: string[], label: string): Promise<void> {
    await waitFor(
      `${label}: every job to end`,
      async () => (await statuses(ids)).every((s) => ENDED.includes(s)),
      180_000,
      250,
    ).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}: ${(await statuses(ids)).join(', ')}\n${stack.logs().slice(-6000)}`);
    });
    // Nothing left to send: the callback queue is empty (no waiting, delayed or running delivery).
    await untilQueueIdle(redis, prefix, 'callback', `${label}: the callback queue to drain`, () =>
      ids.every((id) => receiver.forJob(id).length > 0),
    );
    const { rows: outputs } = await db.query<{ job_id: string; n: number; done: number }>(
      `SELECT job_id, COUNT(*)::int AS n, COUNT(*) FILTER (WHERE status = 'completed')::int AS done FROM outputs WHERE job_id = ANY($1::uuid[]) GROUP BY job_id`,
      [ids],
    );
    const { rows: deliveries } = await db.query<{ job_id: string; n: number; delivered: number }>(
      `SELECT job_id, COUNT(*)::int AS n, COUNT(*) FILTER (WHERE status_code BETWEEN 200 AND 299)::int AS delivered FROM callback_deliveries WHERE job_id = ANY($1::uuid[]) GROUP BY job_id`,
      [ids],
    );
    const perJob = ids.map((id) => ({
      id,
      outputs: outputs.find((o) => o.job_id === id)?.n ?? 0,
      completedOutputs: outputs.find((o) => o.job_id === id)?.done ?? 0,
      deliveryAttempts: deliveries.find((d) => d.job_id === id)?.n ?? 0,
      delivered: deliveries.find((d) => d.job_id === id)?.delivered ?? 0,
      received: receiver.forJob(id).map((r) => r.headers['x-kiln-event']),
    }));
    const finals = await statuses(ids);
    const actual = perJob.map(({ id, ...rest }, i) => ({ id, status: finals[i], ...rest }));
    const expected = perJob.map((p) => ({
      id: p.id,
      status: 'completed',
      outputs: 1,
      completedOutputs: 1,
      deliveryAttempts: 1,
      delivered: 1,
      received: ['job.completed'],
    }));
    const once = actual.filter((a, i) => JSON.stringify(a) === JSON.stringify(expected[i])).length;
    summary.push(`${label}: ${ids.length} jobs, ${once} ended exactly once`);
    expect(actual).toEqual(expected);
  }

  it('jobs complete on the cluster, every BullMQ key in the slot of the hash tag', async () => {
    const ids = await Promise.all(Array.from({ length: 4 }, () => submit()));
    await expectExactlyOnce(ids, 'no failover');
    const slot = await cluster.slotOf(prefix);
    const { primary } = await cluster.ownerOf(prefix);
    const keys = await primary.keys(`${prefix}:*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(new Set(await Promise.all(keys.slice(0, 20).map((k) => cluster.slotOf(k))))).toEqual(new Set([slot]));
  });

  it.each([
    ['CLUSTER FAILOVER on the replica', (c: RedisCluster) => c.manualFailover(prefix)],
    ['SIGKILL of the primary', (c: RedisCluster) => c.killPrimary(prefix)],
  ])('%s mid-run: every job ends exactly once with one callback', async (label, failover) => {
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push(await submit());
    // Mid-run: some units converting, some still queued behind them.
    await waitFor(
      'conversions running with more queued',
      async () => {
        const s = await statuses(ids);
        return s.includes('processing') && s.includes('queued');
      },
      60_000,
      50,
    );
    const moved = await failover(cluster);
    const during = await statuses(ids);
    summary.push(
      `${label}: primary ${moved.from} → ${moved.to}; at the failover: ${during.filter((s) => s === 'processing').length} processing, ${during.filter((s) => s === 'queued').length} queued`,
    );
    // More work after the failover, on the new primary.
    for (let i = 0; i < 2; i++) ids.push(await submit());
    await expectExactlyOnce(ids, label);
    expect(stack.apps.every((a) => a.child.exitCode === null && a.child.signalCode === null)).toBe(true);
  });
});

describe('Redis Cluster mode refuses a queue prefix without a hash tag', () => {
  it('the process stops at start with one line naming KILN_QUEUE_PREFIX', async () => {
    const env = {
      PATH: process.env.PATH ?? '',
      KILN_API_KEYS: 'k'.repeat(20),
      KILN_WEBHOOK_SECRET: 's'.repeat(20),
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/none',
      REDIS_CLUSTER_NODES: '127.0.0.1:1,127.0.0.1:2',
      KILN_QUEUE_PREFIX: 'kiln',
      S3_ENDPOINT: 'http://127.0.0.1:1',
      S3_ACCESS_KEY: 'a',
      S3_SECRET_KEY: 'b',
    };
    for (const app of ['api-gateway', 'converter']) {
      const failed = await run(process.execPath, [path.join(ROOT, 'dist/apps', app, 'src/main.js')], {
        env,
        timeout: 20_000,
      }).then(
        () => null,
        (err: { code?: number; stderr?: string }) => err,
      );
      expect(failed?.code).toBe(1);
      const lines = (failed?.stderr ?? '').trim().split('\n');
      expect(lines).toEqual([
        expect.stringMatching(
          /^invalid configuration: KILN_QUEUE_PREFIX: needs a hash tag on a Redis Cluster, e\.g\. \{kiln\}/,
        ),
      ]);
    }
  });
});
