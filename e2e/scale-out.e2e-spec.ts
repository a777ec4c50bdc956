// Scale-out as deployed: several gateways and converters as separate OS processes sharing one
// PostgreSQL, one Redis and one bucket. Every job is done exactly once, every callback sent once,
// and the work spreads over every converter. Then the same stack shape on a Redis Cluster node with
// a hash-tagged queue prefix.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { makeAudio, makeImage, makeTempDir } from '../libs/media/src/testing';
import { CallbackReceiver } from '../test/callback-receiver';
import { logLines } from '../test/e2e-helpers/app-logs';
import { RedisServer } from '../test/redis-server';
import { jobEnded } from '../test/e2e-helpers/jobs';
import { untilQueueIdle } from '../test/e2e-helpers/queues';
import { Stack, json, waitFor, type RunningApp } from '../test/stack';

jest.setTimeout(180_000);

// Audio through ffmpeg (`convert`), images through libvips (`convert-vips`): every converter runs both.
const convertedBy = (app: RunningApp) =>
  logLines(app).filter((l) => (l.queue === 'convert' || l.queue === 'convert-vips') && l.outcome === 'success');

describe('scale-out: 2 gateways, 3 converters, 30 jobs', () => {
  const stack = new Stack();
  const receiver = new CallbackReceiver();
  let tmp: { dir: string; remove: () => Promise<void> };
  let wav: Buffer;
  let png: Buffer;

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-scale-');
    wav = await readFile(await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 1, format: 'wav' }));
    png = await readFile(await makeImage({ path: path.join(tmp.dir, 'pic.png'), width: 64, height: 48 }));
    await receiver.start();
    await stack.start({ gateways: 2, converters: 3 });
  });

  afterAll(async () => {
    await stack.stop();
    await receiver.stop();
    await tmp?.remove();
  });

  it('each job completes exactly once with one output and one callback; every converter takes work', async () => {
    const JOBS = 30;
    const [g1, g2] = stack.gatewayUrls;
    const started = Date.now();
    const jobs: { id: string; kind: 'audio' | 'image' }[] = [];
    // Submitted a few at a time, alternating gateways; each file is uploaded through the other
    // gateway than the one that created its job (no sticky sessions).
    for (let batch = 0; batch < JOBS; batch += 5) {
      const made = await Promise.all(
        Array.from({ length: Math.min(5, JOBS - batch) }, async (_, k) => {
          const i = batch + k;
          const [create, upload] = i % 2 ? [g2, g1] : [g1, g2];
          const audio = i % 3 !== 2;
          const res = await stack.api('/v1/jobs', {
            base: create,
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({
              conversion: [{ target: audio ? 'mp3' : 'jpg' }],
              callback: receiver.url,
              tag: `scale-${i}`,
            }),
          });
          expect(res.status).toBe(201);
          const job = await json(res);
          const form = new FormData();
          form.append('file', new Blob([audio ? wav : png]), audio ? `tone-${i}.wav` : `pic-${i}.png`);
          const up = await stack.api(`/v1/jobs/${job.id}/upload`, { base: upload, method: 'POST', body: form });
          expect(up.status).toBe(201);
          return { id: job.id as string, kind: audio ? ('audio' as const) : ('image' as const) };
        }),
      );
      jobs.push(...made);
    }

    const finals = await waitFor(
      'every job to end',
      async () => {
        const all = await Promise.all(
          jobs.map((j, i) => json(stack.api(`/v1/jobs/${j.id}`, { base: stack.gatewayUrls[i % 2] }))),
        );
        return all.every((j) => ['completed', 'failed', 'canceled'].includes(j.status.code)) ? all : undefined;
      },
      150_000,
      500,
    );
    const elapsedS = (Date.now() - started) / 1000;

    for (const [i, final] of finals.entries()) {
      expect({ id: final.id, status: final.status.code, errors: final.errors }).toEqual({
        id: jobs[i].id,
        status: 'completed',
        errors: [],
      });
      expect(final.output).toHaveLength(1);
      expect(final.output[0].filename).toBe(jobs[i].kind === 'audio' ? `tone-${i}.mp3` : `pic-${i}.jpg`);
    }

    // Callbacks: one per job, each with its own delivery id; nothing more arrives later.
    await waitFor('one callback per job', async () => jobs.every((j) => receiver.forJob(j.id).length >= 1), 30_000);
    await untilQueueIdle(stack.env.REDIS_URL, stack.env.KILN_QUEUE_PREFIX, 'callback', 'the callback queue to drain');
    for (const j of jobs) {
      const got = receiver.forJob(j.id);
      expect(got.map((g) => g.headers['x-kiln-event'])).toEqual(['job.completed']);
    }
    const deliveryIds = jobs.map((j) => receiver.forJob(j.id)[0].headers['x-kiln-delivery']);
    expect(new Set(deliveryIds).size).toBe(JOBS);
    expect(receiver.received.filter((r) => jobs.some((j) => j.id === r.json?.id))).toHaveLength(JOBS);

    // Every unit was converted once, and every converter did some of them.
    const converters = stack.apps.filter((a) => a.app === 'converter');
    expect(converters).toHaveLength(3);
    const perConverter = converters.map((c) => convertedBy(c));
    const units = perConverter.flat().map((l) => l.outputId);
    expect(units).toHaveLength(JOBS);
    expect(new Set(units)).toEqual(new Set(finals.map((f) => f.output[0].id)));
    const tookWork = Object.fromEntries(converters.map((c, i) => [c.name, perConverter[i].length >= 1]));
    expect(tookWork).toEqual({ 'converter-1': true, 'converter-2': true, 'converter-3': true });
    // Both gateways are still the same processes.
    expect(stack.apps.filter((a) => a.app === 'api-gateway').every((a) => a.child.exitCode === null)).toBe(true);
    console.log(
      `scale-out: ${JOBS} jobs in ${elapsedS.toFixed(1)} s; units per converter: ${perConverter.map((d) => d.length).join(', ')}`,
    );
  });
});

describe('Redis Cluster: a hash-tagged queue prefix keeps every queue key in one slot', () => {
  // A one-node Redis Cluster owning all slots: a plain client reaches every key, and Redis refuses
  // (CROSSSLOT) any multi-key command or script whose keys hash to different slots, exactly as a
  // real cluster does. BullMQ's scripts touch several keys (and several queues, for flows), so this
  // only works when every key carries the same hash tag.
  const redis = new RedisServer({ cluster: true });
  const stack = new Stack();
  const receiver = new CallbackReceiver();
  const prefix = `{kiln-${Math.random().toString(36).slice(2, 10)}}`;
  let tmp: { dir: string; remove: () => Promise<void> };

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-cluster-');
    await redis.start();
    await receiver.start();
    await stack.start({ converters: 1, env: { REDIS_URL: redis.url, KILN_QUEUE_PREFIX: prefix } });
  });

  afterAll(async () => {
    await stack.stop();
    await receiver.stop();
    await redis.destroy();
    await tmp?.remove();
  });

  it('a job completes and every BullMQ key starts with the hash-tagged prefix', async () => {
    const wav = await readFile(await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 1, format: 'wav' }));
    const job = await json(
      stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ conversion: [{ target: 'mp3' }], callback: receiver.url }),
      }),
    );
    const form = new FormData();
    form.append('file', new Blob([wav]), 'tone.wav');
    expect((await stack.api(`/v1/jobs/${job.id}/upload`, { method: 'POST', body: form })).status).toBe(201);
    const final = await jobEnded(stack, job.id, 60_000);
    expect(final.status.code).toBe('completed');
    expect(final.output).toHaveLength(1);
    await waitFor('callback', async () => receiver.forJob(job.id)[0], 30_000);

    const all = await redis.keys('*');
    const ours = await redis.keys(`${prefix}*`);
    expect(ours.length).toBeGreaterThan(0);
    expect(all.filter((k) => !k.startsWith(`${prefix}:`))).toEqual([]);
    for (const queue of ['convert', 'finalize', 'callback'])
      expect(ours.some((k) => k.startsWith(`${prefix}:${queue}:`))).toBe(true);
    // One slot for all of them.
    const slots = new Set(
      await Promise.all(
        [...new Set(ours.map((k) => k.split(':').slice(0, 2).join(':')))].map(async (k) =>
          (await redis.cli('CLUSTER', 'KEYSLOT', k)).trim(),
        ),
      ),
    );
    expect(slots.size).toBe(1);
    // No worker met a CROSSSLOT refusal.
    expect(stack.apps.map((a) => a.output.join('')).join('\n')).not.toMatch(/CROSSSLOT/);
  });
});
