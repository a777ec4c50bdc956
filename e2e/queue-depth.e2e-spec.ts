// Queue depth for autoscalers, end to end: the gateway as an OS process, no converter running, two
// jobs whose convert units therefore wait in Redis. Kiln's fair share gives every unit a BullMQ
// priority, so they wait in the `prioritized` set and the `wait` list stays empty: a scaler that
// reads only `wait` would see nothing. /metrics and GET /metrics/queues must count every unit as
// backlog; then a converter starts, takes them all, and the backlog falls to 0.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { makeAudio, makeTempDir } from '../libs/media/src/testing';
import { Stack, freePort, json, waitFor } from '../test/stack';

jest.setTimeout(180_000);

const METRICS_TOKEN = 'queue-depth-token-0123456789abcdef';

/** The value of the one sample with this name and exactly these labels (besides `app`) in a Prometheus text. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries({ ...labels, app: 'api-gateway' })
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',');
  const found = text.split('\n').flatMap((line) => {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) return [];
    return m[2].split(',').sort().join(',') === want ? [Number(m[3])] : [];
  });
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${want}`);
  return found[0];
}

describe('queue depth for autoscaling (real processes)', () => {
  const stack = new Stack();
  let tmp: { dir: string; remove: () => Promise<void> };
  let tokenGateway: string;
  const jobIds: string[] = [];

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-e2e-queue-depth-');
    await stack.start({ converters: 0, assemblers: 0 });
    const port = await freePort();
    tokenGateway = `http://127.0.0.1:${port}`;
    stack.spawnApp('api-gateway', 'gateway-token', {
      KILN_PORT: String(port),
      KILN_HOST: '127.0.0.1',
      KILN_METRICS_TOKEN: METRICS_TOKEN,
    });
    await stack.waitReady(tokenGateway);
  });

  afterAll(async () => {
    await stack.stop();
    await tmp?.remove();
  });

  async function createUploadedJob(targets: string[], bytes: Buffer): Promise<string> {
    const created = await stack.api('/v1/jobs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ input: [{ type: 'upload' }], conversion: targets.map((target) => ({ target })) }),
    });
    expect(created.status).toBe(201);
    const job = await json(created);
    const form = new FormData();
    form.append('file', new Blob([bytes]), 'tone.wav');
    // The upload answers once the job has started, i.e. once its units are in the queue.
    const up = await stack.api(`/v1/jobs/${job.id}/upload`, { method: 'POST', body: form });
    expect(up.status).toBe(201);
    return job.id as string;
  }

  it('counts prioritized convert units as backlog in /metrics and GET /metrics/queues, and the endpoint honours the token', async () => {
    const wav = await readFile(await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 1, format: 'wav' }));
    // 2 + 3 units (one input × each conversion); no converter runs, so all 5 wait.
    jobIds.push(await createUploadedJob(['mp3', 'ogg'], wav));
    jobIds.push(await createUploadedJob(['flac', 'opus', 'm4a'], wav));
    for (const id of jobIds) expect((await json(stack.api(`/v1/jobs/${id}`))).status.code).toBe('queued');

    const scraped = await fetch(`${stack.url}/metrics`);
    expect(scraped.status).toBe(200);
    const text = await scraped.text();
    expect(sample(text, 'kiln_queue_jobs', { queue: 'convert', state: 'waiting' })).toBe(0);
    expect(sample(text, 'kiln_queue_jobs', { queue: 'convert', state: 'prioritized' })).toBe(5);
    expect(sample(text, 'kiln_queue_jobs', { queue: 'convert', state: 'active' })).toBe(0);
    expect(sample(text, 'kiln_queue_backlog', { queue: 'convert' })).toBe(5);
    // The finalize parents wait for their children: not runnable, not backlog.
    expect(sample(text, 'kiln_queue_backlog', { queue: 'finalize' })).toBe(0);

    const res = await fetch(`${stack.url}/metrics/queues`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await json(res);
    expect(body.queues.convert).toEqual({
      waiting: 0,
      prioritized: 5,
      active: 0,
      delayed: 0,
      failed: 0,
      backlog: 5,
      demand: 5,
    });
    expect(body.queues.finalize).toMatchObject({ backlog: 0, demand: 0 });
    expect(Object.keys(body.queues).sort()).toEqual([
      'assemble',
      'callback',
      'convert',
      'convert-office',
      'convert-vips',
      'fetch',
      'finalize',
      'maintenance',
    ]);

    // With KILN_METRICS_TOKEN set, the endpoint (like /metrics) needs the Bearer token.
    const anonymous = await fetch(`${tokenGateway}/metrics/queues`);
    expect(anonymous.status).toBe(401);
    expect((await json(anonymous)).error.code).toBe('unauthorized');
    expect(
      (await fetch(`${tokenGateway}/metrics/queues`, { headers: { Authorization: 'Bearer not-the-token-0123456789' } }))
        .status,
    ).toBe(401);
    expect((await fetch(`${tokenGateway}/metrics`)).status).toBe(401);
    const authorized = await fetch(`${tokenGateway}/metrics/queues`, {
      headers: { Authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(authorized.status).toBe(200);
    expect((await json(authorized)).queues.convert).toEqual(body.queues.convert);
  });

  it('falls to zero once a converter has taken every unit', async () => {
    const converter = stack.spawnApp('converter', 'converter-late');
    await stack.waitForLog(converter, /ready"/);
    for (const id of jobIds) {
      const job = await waitFor(
        `job ${id} ended`,
        async () => {
          const j = await json(stack.api(`/v1/jobs/${id}`));
          return ['completed', 'failed', 'canceled'].includes(j.status.code) ? j : undefined;
        },
        120_000,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${stack.logs()}`);
      });
      expect({ id, status: job.status.code }).toEqual({ id, status: 'completed' });
    }
    // Counts are cached for about a second: wait for the read that follows the last completion.
    const convert = await waitFor(
      'convert queue empty',
      async () => {
        const { queues } = await json(fetch(`${stack.url}/metrics/queues`));
        return queues.convert.demand === 0 ? queues.convert : undefined;
      },
      10_000,
    );
    expect(convert).toMatchObject({ waiting: 0, prioritized: 0, active: 0, backlog: 0 });
    const text = await (await fetch(`${stack.url}/metrics`)).text();
    expect(sample(text, 'kiln_queue_backlog', { queue: 'convert' })).toBe(0);
  });
});
