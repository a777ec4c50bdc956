// Waiting for a job instead of polling (`?wait=`), with two gateways, an assembler and a converter
// as real processes, real PostgreSQL, Redis, S3 and ffmpeg. Remote inputs come from a local HTTP
// server whose "gated" files are held back until the test lets them go, so a job ends exactly when
// the test decides, while clients are known (by the gateway's own gauge) to be waiting for it.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { Redis } from 'ioredis';
import { makeAudio, makeTempDir } from '../libs/media/src/testing';
import { StoredStateProbe, expectRefusedWithoutTrace } from '../test/e2e-helpers/stored-state';
import { Stack, freePort, json, waitFor } from '../test/stack';

jest.setTimeout(180_000);

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('waiting for a job (?wait=) on any gateway', () => {
  const stack = new Stack();
  const probe = new StoredStateProbe(stack);
  let redis: Redis;
  let server: http.Server;
  let base = '';
  let wav: Buffer;
  let tmp: { dir: string; remove: () => Promise<void> };
  /** Gated files: the answer of each is held until `release(name)`. */
  const held = new Map<string, http.ServerResponse>();
  const released = new Set<string>();
  const send = (res: http.ServerResponse) =>
    res.writeHead(200, { 'Content-Type': 'audio/wav', 'Content-Length': wav.length }).end(wav);
  const release = (name: string) => {
    released.add(name);
    const res = held.get(name);
    if (res) send(res);
  };

  const post = (pathname: string, body: unknown, base?: string) =>
    stack.api(pathname, {
      base,
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  const channel = (jobId: string) => `${stack.env.KILN_QUEUE_PREFIX}:events:${jobId}`;
  /** Redis subscriptions to the job's event channel, all gateways together. */
  const subscriptions = async (jobId: string) =>
    ((await redis.pubsub('NUMSUB', channel(jobId))) as [string, number])[1];
  /** The gateway's own count of requests waiting (`kiln_job_waits`). */
  const waits = async (gateway: string) => {
    const text = await (await fetch(`${gateway}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('kiln_job_waits'));
    if (!line) throw new Error('no kiln_job_waits in /metrics');
    return Number(line.split(' ').pop());
  };
  const jobRows = async () => Number((await probe.query<{ n: string }>('SELECT count(*) AS n FROM jobs'))[0].n);

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-wait-');
    wav = await readFile(await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 1, format: 'wav' }));
    server = http.createServer((req, res) => {
      const gated = /^\/gated\/([a-z0-9-]+)\.wav$/.exec(req.url ?? '');
      if (gated) {
        if (released.has(gated[1])) return void send(res);
        return void held.set(gated[1], res);
      }
      if (req.url === '/files/tone.wav') return void send(res);
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    await stack.start({ gateways: 2, converters: 1 });
    await probe.start();
    redis = new Redis(stack.env.REDIS_URL, { maxRetriesPerRequest: null });
  });

  afterAll(async () => {
    redis?.disconnect();
    await probe.stop();
    await stack.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await tmp?.remove();
  });

  it('refuses a wait that is not whole seconds from 0 to 300 (400 naming wait), storing nothing', async () => {
    const idle = await json(post('/v1/jobs', { process: false, conversion: [{ target: 'mp3' }] }));
    const rowsBefore = await jobRows();
    const body = { input: [{ type: 'remote', source: `${base}/files/tone.wav` }], conversion: [{ target: 'mp3' }] };
    for (const wait of ['301', '-1', '1.5', 'abc', '', '1e2']) {
      const bad = { status: 400, code: 'invalid_input', field: 'wait', message: /wait/ };
      await expectRefusedWithoutTrace(probe, () => post(`/v1/jobs?wait=${wait}`, body), bad);
      await expectRefusedWithoutTrace(probe, () => stack.api(`/v1/jobs/${idle.id}?wait=${wait}`), bad);
      await expectRefusedWithoutTrace(probe, () => stack.api(`/v1/jobs/${idle.id}/output/latest?wait=${wait}`), bad);
    }
    await expectRefusedWithoutTrace(probe, () => stack.api(`/v1/jobs/${idle.id}/output/latest?redirect=yes`), {
      status: 400,
      code: 'invalid_input',
      field: 'redirect',
    });
    // No job row came from any refused POST, and no waiter or subscription was left behind.
    expect(await jobRows()).toBe(rowsBefore);
    expect(await Promise.all(stack.gatewayUrls.map(waits))).toEqual([0, 0]);
    expect(await subscriptions(idle.id)).toBe(0);
  });

  it('200 clients wait on gateway B for a job made on gateway A: one Redis subscription, all answered when it completes', async () => {
    const [a, b] = stack.gatewayUrls;
    const job = await json(
      post(
        '/v1/jobs',
        { input: [{ type: 'remote', source: `${base}/gated/many.wav` }], conversion: [{ target: 'mp3' }] },
        a,
      ),
    );
    const asked = Date.now();
    const answers = Array.from({ length: 200 }, async () => {
      const res = await stack.api(`/v1/jobs/${job.id}?wait=60`, { base: b });
      return { status: res.status, body: await json(res), at: Date.now() };
    });
    // Every request is held on gateway B, all through one subscription (none on A), before the job can end.
    await waitFor('200 waiting requests on gateway B', async () => (await waits(b)) === 200, 30_000);
    expect(await subscriptions(job.id)).toBe(1);
    expect(await waits(a)).toBe(0);
    expect((await json(stack.api(`/v1/jobs/${job.id}`, { base: a }))).status.code).not.toMatch(
      /completed|failed|canceled/,
    );
    const releasedAt = Date.now();
    release('many');
    const got = await Promise.all(answers);

    const stored = await json(stack.api(`/v1/jobs/${job.id}`, { base: a }));
    expect(stored.status.code).toBe('completed');
    expect(stored.output).toHaveLength(1);
    const finishedAt = Date.parse(stored.finished_at);
    expect(finishedAt).toBeGreaterThanOrEqual(releasedAt);
    for (const g of got) {
      expect({ status: g.status, code: g.body.status.code, finished_at: g.body.finished_at }).toEqual({
        status: 200,
        code: 'completed',
        finished_at: stored.finished_at,
      });
      expect(g.body.output.map((o: { id: string }) => o.id)).toEqual([stored.output[0].id]);
      expect(g.body.token).toBeUndefined();
      // Answered because the job ended (after it did), long before the 60 s deadline.
      expect(g.at).toBeGreaterThanOrEqual(finishedAt);
      expect(g.at - asked).toBeLessThan(60_000);
    }
    // Every listener is gone again, and with the last one the subscription.
    await waitFor('the subscription to end', async () => (await subscriptions(job.id)) === 0, 10_000);
    expect(await waits(b)).toBe(0);

    // The one output, on gateway A: JSON, then a 302 to bytes that are the stored object's.
    const latest = await stack.api(`/v1/jobs/${job.id}/output/latest`, { base: a });
    expect(latest.status).toBe(200);
    const output = await json(latest);
    expect(output).toMatchObject({ id: stored.output[0].id, filename: 'many.mp3', size: stored.output[0].size });
    const redirect = await stack.api(`/v1/jobs/${job.id}/output/latest?redirect=true`, { base: a, redirect: 'manual' });
    expect(redirect.status).toBe(302);
    const download = await fetch(redirect.headers.get('location') as string);
    expect(download.status).toBe(200);
    const bytes = Buffer.from(await download.arrayBuffer());
    const [{ object_key }] = await probe.query<{ object_key: string }>('SELECT object_key FROM outputs WHERE id = $1', [
      output.id,
    ]);
    const object: Buffer[] = [];
    for await (const chunk of await probe.store.get(object_key)) object.push(chunk as Buffer);
    expect(bytes.length).toBe(output.size);
    expect(sha256(bytes)).toBe(sha256(Buffer.concat(object)));
    expect(sha256(bytes)).toBe(output.checksum_sha256);
  });

  it('POST /v1/jobs?wait= with remote inputs answers the completed job (with its token); several outputs make output/latest a 409', async () => {
    const [a, b] = stack.gatewayUrls;
    const rowsBefore = await jobRows();
    const res = await post(
      '/v1/jobs?wait=90',
      {
        input: [{ type: 'remote', source: `${base}/files/tone.wav` }],
        conversion: [{ target: 'mp3' }, { target: 'flac' }],
        tag: 'waited',
      },
      b,
    );
    expect(res.status).toBe(201);
    const job = await json(res);
    expect(await jobRows()).toBe(rowsBefore + 1);
    expect(job).toMatchObject({
      status: { code: 'completed' },
      tag: 'waited',
      token: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    expect(job.output.map((o: { filename: string }) => o.filename).sort()).toEqual(['tone.flac', 'tone.mp3']);
    expect(job.finished_at).not.toBeNull();
    const stored = await json(stack.api(`/v1/jobs/${job.id}`, { base: a }));
    expect(stored.finished_at).toBe(job.finished_at);

    const latest = await stack.api(`/v1/jobs/${job.id}/output/latest?redirect=true&wait=5`, {
      base: a,
      redirect: 'manual',
    });
    expect(latest.status).toBe(409);
    expect((await json(latest)).error).toMatchObject({ code: 'conflict', message: expect.stringMatching(/2 outputs/) });
  });

  it('a job that cannot end is answered as it is at the deadline; a gateway that stops answers its waiters at once', async () => {
    const [, b] = stack.gatewayUrls;
    const idle = await json(post('/v1/jobs', { process: false, conversion: [{ target: 'mp3' }] }));
    const asked = Date.now();
    const res = await stack.api(`/v1/jobs/${idle.id}?wait=2`, { base: b });
    const waited = Date.now() - asked;
    const body = await json(res);
    expect({ status: res.status, code: body.status.code, modified_at: body.modified_at }).toEqual({
      status: 200,
      code: 'incomplete',
      modified_at: idle.modified_at,
    });
    expect(waited).toBeGreaterThanOrEqual(2_000);
    expect(waited).toBeLessThan(10_000);

    const latest = await stack.api(`/v1/jobs/${idle.id}/output/latest?wait=1`, { base: b });
    expect(latest.status).toBe(409);
    expect((await json(latest)).error).toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(/incomplete/),
    });
    expect(await subscriptions(idle.id)).toBe(0);

    // A client that leaves stops its wait: its listener and the subscription go at once, not at the deadline.
    const leaving = new AbortController();
    const gone = stack.api(`/v1/jobs/${idle.id}?wait=60`, { base: b, signal: leaving.signal }).catch((e) => e);
    await waitFor('the wait to be held on gateway B', async () => (await waits(b)) === 1, 10_000);
    expect(await subscriptions(idle.id)).toBe(1);
    leaving.abort();
    expect(String(await gone)).toMatch(/abort/i);
    await waitFor('the wait to end with its client', async () => (await waits(b)) === 0, 10_000);
    expect(await subscriptions(idle.id)).toBe(0);

    // A third gateway holds a 60 s wait; on SIGTERM it answers with the job as it is and exits.
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const third = stack.spawnApp('api-gateway', 'gateway-3', { KILN_PORT: String(port), KILN_HOST: '127.0.0.1' });
    await stack.waitReady(url);
    const pending = stack.api(`/v1/jobs/${idle.id}?wait=60`, { base: url }).then(async (r) => ({
      status: r.status,
      body: await json(r),
      at: Date.now(),
    }));
    await waitFor('the wait to be held on gateway 3', async () => (await waits(url)) === 1, 10_000);
    const stopping = Date.now();
    third.child.kill('SIGTERM');
    const answer = await pending;
    expect({ status: answer.status, code: answer.body.status.code, id: answer.body.id }).toEqual({
      status: 200,
      code: 'incomplete',
      id: idle.id,
    });
    // Answered by the shutdown, before the 5 s grace period would have cut the connection.
    expect(answer.at - stopping).toBeLessThan(5_000);
    expect(await third.exited).toBe(0);
    expect(await subscriptions(idle.id)).toBe(0);
  });
});
