// A cancel the converter never hears from Redis still stops its ffmpeg. The converter reaches Redis
// through a TCP proxy that the test cuts while ffmpeg runs, so the gateway's cancel message (Redis
// pub/sub, not kept for a disconnected subscriber) is lost for it; PostgreSQL says `canceling` on
// its next heartbeat and the converter kills ffmpeg. The job ends canceled with no output, no
// object under its outputs, and the converter, reconnected, converts the next job.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from 'pg';
import { heartbeatPeriodMs } from '../apps/converter/src/handlers/unit-watch';
import { makeAudio, makeTempDir, makeVideo } from '../libs/media/src/testing';
import { alive, logLines, problems } from '../test/e2e-helpers/app-logs';
import { databaseOf } from '../test/e2e-helpers/deliveries';
import { jobEnded } from '../test/e2e-helpers/jobs';
import { keysUnder, objectStoreOf } from '../test/e2e-helpers/object-store';
import { ffmpegChildren } from '../test/processes';
import { Stack, json, waitFor } from '../test/stack';
import { TcpProxy } from '../test/tcp-proxy';

jest.setTimeout(240_000);

/** The reconciler's grace: the converter beats every quarter of it. */
const GRACE_MS = 8_000;

describe('cancel while the converter is cut off from Redis', () => {
  const stack = new Stack();
  const redisUrl = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const proxy = new TcpProxy({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) });
  let tmp: { dir: string; remove: () => Promise<void> };
  let db: Client;

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-cancel-durable-');
    await proxy.start();
    const viaProxy = new URL(redisUrl.toString());
    viaProxy.port = String(proxy.port);
    await stack.start({
      converters: 1,
      env: { KILN_RECONCILE_GRACE_MS: String(GRACE_MS), KILN_FFMPEG_PRESET: 'slow', KILN_FFMPEG_THREADS: '1' },
      // Only the converter goes through the proxy: its queue worker and its cancel subscriber.
      placement: (app) => (app === 'converter' ? { env: { REDIS_URL: viaProxy.toString() } } : undefined),
    });
    db = await databaseOf(stack);
  });

  afterAll(async () => {
    await db?.end();
    await stack.stop();
    await proxy.stop();
    await tmp?.remove();
  });

  async function submit(file: string, conversion: unknown): Promise<string> {
    const job = await json(
      stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ conversion: [conversion] }),
      }),
    );
    const form = new FormData();
    form.append('file', new Blob([await readFile(file)]), path.basename(file));
    expect((await stack.api(`/v1/jobs/${job.id}/upload`, { method: 'POST', body: form })).status).toBe(201);
    return job.id;
  }

  it("stops ffmpeg from PostgreSQL's canceling within seconds, records nothing, and keeps converting", async () => {
    const converter = stack.apps.find((a) => a.app === 'converter')!;
    const video = await makeVideo({
      path: path.join(tmp.dir, 'long.mp4'),
      // About a minute of work at preset slow on one thread: it runs long past the cancel.
      seconds: 60,
      width: 1280,
      height: 720,
      audio: true,
    });
    const id = await submit(video, { target: 'mp4', options: { crf: 12 } });
    // Progress first: fluent-ffmpeg's short capability runs (-formats, -encoders) are ffmpeg children too.
    await waitFor(
      'the conversion under way',
      async () => {
        const { rows } = await db.query('SELECT progress FROM outputs WHERE job_id = $1', [id]);
        return rows[0]?.progress >= 1;
      },
      60_000,
      200,
    );
    const ffmpeg = ffmpegChildren(converter.child.pid!);
    expect(ffmpeg).toHaveLength(1);

    // The converter loses Redis: its connections are dropped and new ones refused.
    await proxy.cut();
    const deleted = Date.now();
    const res = await stack.api(`/v1/jobs/${id}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    await waitFor('ffmpeg gone', async () => ffmpegChildren(converter.child.pid!).length === 0, 20_000, 50).catch(
      (err: unknown) => {
        throw new Error(`${(err as Error).message}\n${problems(stack)}`);
      },
    );
    const stoppedAfterMs = Date.now() - deleted;
    // One heartbeat period, then SIGTERM and at most the kill grace (1 s), on a busy machine.
    expect(stoppedAfterMs).toBeLessThan(heartbeatPeriodMs(GRACE_MS) + 4_000);

    // It was PostgreSQL, not the Redis message: the cancel subscriber never heard of this job.
    const handled = await waitFor(
      'the converter to end its attempt',
      async () => logLines(converter).find((l) => l.queue === 'convert' && l.jobId === id && l.msg === 'job handled'),
      30_000,
      100,
    );
    expect(handled).toMatchObject({ outcome: 'skipped', reason: 'job canceled' });
    const lines = logLines(converter).filter((l) => l.jobId === id);
    expect(lines.filter((l) => l.msg === 'job canceled: stopping its conversions')).toEqual([]);
    expect(lines.filter((l) => l.msg === 'unit stopped: PostgreSQL says it must').map((l) => l.reason)).toEqual([
      'job canceled',
    ]);

    const final = await jobEnded(stack, id, 30_000);
    expect({ status: final.status.code, output: final.output }).toEqual({ status: 'canceled', output: [] });
    const { rows } = await db.query<{ status: string; object_key: string | null; attempt: number }>(
      'SELECT status, object_key, attempt FROM outputs WHERE job_id = $1',
      [id],
    );
    expect(rows).toEqual([{ status: 'canceled', object_key: null, attempt: 1 }]);
    expect(await keysUnder(objectStoreOf(stack), `outputs/${id}/`)).toEqual([]);
    expect(alive([converter])).toBe(true);

    // Redis back: the same converter process takes and converts the next job.
    await proxy.restore();
    const wav = await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 1, format: 'wav' });
    const next = await submit(wav, { target: 'mp3' });
    const done = await jobEnded(stack, next, 90_000);
    expect(done.status.code).toBe('completed');
    expect(alive([converter])).toBe(true);
    console.log(
      `durable cancel: ffmpeg stopped ${stoppedAfterMs} ms after DELETE with the converter cut off from Redis (heartbeat every ${heartbeatPeriodMs(GRACE_MS)} ms)`,
    );
  });
});
