// Redis down at the moment a job starts, with the apps running as real processes (our own Redis
// instance, AOF on as in compose): requests answer 503 at once, and work resumes once it is back.
// The machine's own Redis and PostgreSQL are never stopped.
import { createServer as createHttpServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { makeAudio, makeTempDir } from '../libs/media/src/testing';
import { CallbackReceiver } from '../test/callback-receiver';
import { RedisServer } from '../test/redis-server';
import { problems } from '../test/e2e-helpers/app-logs';
import { ENDED } from '../test/e2e-helpers/jobs';
import { Stack, freePort, json, waitFor } from '../test/stack';

jest.setTimeout(240_000);

describe('Redis down at the moment a job starts', () => {
  // Starting a job commits `queued` in PostgreSQL, then adds its BullMQ flow (JobLifecycle.startIfReady).
  // When Redis is away at that moment the job must still run once Redis is back, by itself or when
  // the client retries the request that answered 503.
  const redis = new RedisServer({ appendonly: true });
  const stack = new Stack();
  const receiver = new CallbackReceiver();
  let tmp: { dir: string; remove: () => Promise<void> };
  let wav: Buffer;
  let server: Server;
  let remoteBase = '';
  let releaseSlow: () => void = () => undefined;
  let slowRequested: Promise<void> = Promise.resolve();

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-redis-start-');
    wav = await readFile(await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 1, format: 'wav' }));
    let markRequested: () => void = () => undefined;
    slowRequested = new Promise<void>((r) => (markRequested = r));
    const gate = new Promise<void>((r) => (releaseSlow = r));
    server = createHttpServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'audio/wav', 'Content-Length': wav.length });
      if (req.url !== '/slow.wav') return void res.end(wav);
      // Half the bytes, then the rest once the test lets it go.
      res.write(wav.subarray(0, wav.length >> 1));
      markRequested();
      void gate.then(() => res.end(wav.subarray(wav.length >> 1)));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    remoteBase = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    await redis.start();
    await receiver.start();
    await stack.start({ converters: 1, env: { REDIS_URL: redis.url } });
  });

  afterAll(async () => {
    releaseSlow();
    await stack.stop();
    await receiver.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await redis.destroy();
    await tmp?.remove();
  });

  const post = (body: unknown, base?: string) =>
    stack.api('/v1/jobs', {
      base,
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  const patchProcess = (id: string, base?: string) =>
    stack
      .api(`/v1/jobs/${id}`, {
        base,
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ process: true }),
        signal: AbortSignal.timeout(10_000),
      })
      .then(async (r) => ({
        status: r.status,
        code: ((await r.json().catch(() => null)) as { error?: { code?: string } } | null)?.error?.code,
      }))
      .catch((err: unknown) => ({ status: 0, code: `no answer (${(err as Error).name})` }));

  async function ended(id: string, timeoutMs: number) {
    return waitFor(
      'job end',
      async () => {
        const j = await json(stack.api(`/v1/jobs/${id}`));
        return ENDED.includes(j.status.code) ? j : undefined;
      },
      timeoutMs,
    ).catch(async (err: unknown) => {
      const j = await json(stack.api(`/v1/jobs/${id}`));
      throw new Error(
        `${(err as Error).message}: job ${id} is still ${j.status.code} (inputs ${j.input.map((i: { status: string }) => i.status).join(', ')}, ${j.output.length} outputs)\n${problems(stack)}`,
      );
    });
  }

  /** One job through the whole pipeline, so every process has added a flow before (warm producers). */
  async function warmUp(): Promise<void> {
    const job = await json(
      post({ input: [{ type: 'remote', source: `${remoteBase}/fast.wav` }], conversion: [{ target: 'mp3' }] }),
    );
    expect((await ended(job.id, 60_000)).status.code).toBe('completed');
    const up = await json(post({ conversion: [{ target: 'mp3' }] }));
    const form = new FormData();
    form.append('file', new Blob([wav]), 'warm.wav');
    expect((await stack.api(`/v1/jobs/${up.id}/upload`, { method: 'POST', body: form })).status).toBe(201);
    expect((await ended(up.id, 60_000)).status.code).toBe('completed');
  }

  async function uploadedNotStarted(base?: string): Promise<string> {
    const job = await json(post({ process: false, conversion: [{ target: 'mp3' }], callback: receiver.url }, base));
    const form = new FormData();
    form.append('file', new Blob([wav]), 'tone.wav');
    expect((await stack.api(`/v1/jobs/${job.id}/upload`, { base, method: 'POST', body: form })).status).toBe(201);
    return job.id;
  }

  async function withRedisDown(during: () => Promise<void>): Promise<void> {
    await redis.shutdown();
    try {
      await during();
    } finally {
      await redis.start();
      await waitFor(
        'gateways ready again',
        async () => (await Promise.all(stack.gatewayUrls.map((u) => fetch(`${u}/health/ready`)))).every((r) => r.ok),
        30_000,
      );
    }
  }

  it('a remote input whose download ends while Redis is down: the job still runs once Redis is back', async () => {
    await warmUp();
    const res = await post({
      input: [{ type: 'remote', source: `${remoteBase}/slow.wav` }],
      conversion: [{ target: 'mp3' }],
      callback: receiver.url,
    });
    expect(res.status).toBe(201);
    const job = await json(res);
    await slowRequested;
    await withRedisDown(async () => {
      releaseSlow();
      // The assembler stores the file and starts the job while Redis is away.
      // PostgreSQL records the decision (queued) before the queue write that cannot land now.
      await waitFor(
        'input ready and the job queued',
        async () => {
          const j = await json(stack.api(`/v1/jobs/${job.id}`));
          return j.input[0].status === 'ready' && j.status.code === 'queued';
        },
        20_000,
      );
    });
    const final = await ended(job.id, 30_000);
    expect(final.status.code).toBe('completed');
    expect(final.output).toHaveLength(1);
    await waitFor('callback', async () => receiver.forJob(job.id)[0], 30_000);
  });

  it('PATCH process:true while Redis is down answers 503, and the retry once Redis is back starts the job', async () => {
    await warmUp();
    const id = await uploadedNotStarted();
    await withRedisDown(async () => {
      expect(await patchProcess(id)).toEqual({ status: 503, code: 'unavailable' });
    });
    expect((await patchProcess(id)).status).toBe(200); // the client's retry
    const final = await ended(id, 30_000);
    expect(final.status.code).toBe('completed');
    expect(final.output).toHaveLength(1);
  });

  it('a gateway that has not started a job yet answers 503 at once while Redis is down (no hanging request)', async () => {
    const port = await freePort();
    const fresh = `http://127.0.0.1:${port}`;
    stack.spawnApp('api-gateway', 'gateway-fresh', { KILN_PORT: String(port), KILN_HOST: '127.0.0.1' });
    await stack.waitReady(fresh);
    const id = await uploadedNotStarted(fresh);
    await withRedisDown(async () => {
      expect(await patchProcess(id, fresh)).toEqual({ status: 503, code: 'unavailable' });
    });
    await patchProcess(id, fresh);
    expect((await ended(id, 30_000)).status.code).toBe('completed');
  });
});
