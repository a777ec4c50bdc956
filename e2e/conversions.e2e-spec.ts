// Conversions users can rely on: live progress (SSE), cancel that stops ffmpeg cluster-wide,
// callbacks retried with one delivery id, a crashed converter's unit finished by another, and
// SIGTERM that finishes or hands back running work. Real processes, PostgreSQL, Redis, S3, ffmpeg.
// The growth of the callback backoff and the send-time address guard: callback-delivery-*.e2e-spec.ts.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from 'pg';
import { SseParser } from '../libs/contracts/src/sse-parser';
import { makeAudio, makeTempDir, makeVideo } from '../libs/media/src/testing';
import { MinioObjectStore } from '../libs/storage/src/minio-object-store';
import { verifyCallback } from '../libs/outbound-http/src/callback-signature';
import { CallbackReceiver } from '../test/callback-receiver';
import {
  attemptRows,
  databaseOf,
  outboxRows,
  outputRows,
  sha256Of,
  untilDeliveriesSettled,
} from '../test/e2e-helpers/deliveries';
import { keysUnder } from '../test/e2e-helpers/object-store';
import { ffmpegChildren } from '../test/processes';
import { Stack, json, waitFor, type RunningApp } from '../test/stack';

jest.setTimeout(300_000);

describe('conversions: progress, cancel, callbacks, crashes, shutdown', () => {
  const stack = new Stack();
  let tmp: { dir: string; remove: () => Promise<void> };
  let wav: string;
  let video: string;
  let store: MinioObjectStore;
  let db: Client;
  const receivers: CallbackReceiver[] = [];

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-conv-');
    wav = await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 2, format: 'wav' });
    video = await makeVideo({
      path: path.join(tmp.dir, 'clip.mp4'),
      seconds: 20,
      width: 640,
      height: 360,
      audio: true,
    });
    await stack.start({
      converters: 2,
      env: {
        KILN_CALLBACK_TIMEOUT_MS: '1500',
        KILN_CALLBACK_BACKOFF_MS: '200',
        KILN_CALLBACK_ATTEMPTS: '4',
        KILN_CONVERT_LOCK_SECONDS: '4',
        KILN_FFMPEG_PRESET: 'medium',
        KILN_FFMPEG_THREADS: '1',
        // Long enough for a conversion started before SIGTERM to finish on a loaded machine.
        KILN_SHUTDOWN_GRACE_SECONDS: '90',
      },
    });
    store = new MinioObjectStore({
      endpoint: stack.env.S3_ENDPOINT,
      accessKey: stack.env.S3_ACCESS_KEY,
      secretKey: stack.env.S3_SECRET_KEY,
      bucket: stack.env.S3_BUCKET,
    });
    db = await databaseOf(stack);
  });

  afterAll(async () => {
    await db?.end();
    await stack.stop();
    await Promise.all(receivers.map((r) => r.stop()));
    await tmp?.remove();
  });

  async function receiver(script: (number | 'hang')[] = []) {
    const r = await new CallbackReceiver().start();
    r.script = script;
    receivers.push(r);
    return r;
  }

  async function jobWithFile(file: string, conversion: unknown, callback?: string) {
    const job = await json(
      stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ conversion: [conversion], callback }),
      }),
    );
    const form = new FormData();
    form.append('file', new Blob([await readFile(file)]), path.basename(file));
    const up = await stack.api(`/v1/jobs/${job.id}/upload`, { method: 'POST', body: form });
    expect(up.status).toBe(201);
    return job;
  }

  const slowMp4 = { target: 'mp4', options: { crf: 12 } };

  const converters = () =>
    stack.apps.filter((a) => a.app === 'converter' && a.child.exitCode === null && a.child.signalCode === null);

  /** The converter whose ffmpeg is running right now (waits for one). */
  async function busyConverter(): Promise<{ app: RunningApp; ffmpeg: number[] }> {
    return waitFor(
      'a running ffmpeg',
      async () => {
        for (const app of converters()) {
          const ffmpeg = ffmpegChildren(app.child.pid!);
          if (ffmpeg.length) return { app, ffmpeg };
        }
        return undefined;
      },
      60_000,
      100,
    );
  }

  async function finished(jobId: string) {
    return waitFor(
      'job end',
      async () => {
        const j = await json(stack.api(`/v1/jobs/${jobId}`));
        return ['completed', 'failed', 'canceled'].includes(j.status.code) ? j : undefined;
      },
      240_000,
    );
  }

  it('streams status and rising progress over SSE (job token), then the final job', async () => {
    const job = await json(
      stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ conversion: [slowMp4] }),
      }),
    );
    const res = await fetch(`${stack.url}/v1/jobs/${job.id}/events`, { headers: { 'X-Job-Token': job.token } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    // biome-ignore lint/suspicious/noExplicitAny: parsed JSON of any shape, checked by the assertions
    const events: { event: string; data: any }[] = [];
    const reading = (async () => {
      const decoder = new TextDecoder();
      const sse = new SseParser();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        for (const e of sse.push(decoder.decode(chunk, { stream: true })))
          events.push({ event: e.event, data: JSON.parse(e.data) });
      }
    })();
    const form = new FormData();
    form.append('file', new Blob([await readFile(video)]), 'clip.mp4');
    expect(
      (
        await fetch(`${stack.url}/v1/jobs/${job.id}/upload`, {
          method: 'POST',
          body: form,
          headers: { 'X-Job-Token': job.token },
        })
      ).status,
    ).toBe(201);
    await reading; // the server ends the stream after the final job
    const statuses = events.filter((e) => e.event === 'status').map((e) => e.data);
    expect(statuses[0]).toMatchObject({ job_id: job.id, status: 'incomplete' });
    expect(statuses.map((s) => s.status)).toEqual(expect.arrayContaining(['queued', 'processing', 'completed']));
    const progress = statuses.map((s) => s.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b)); // never goes down
    expect(progress.filter((p) => p > 0 && p < 100).length).toBeGreaterThan(0); // intermediate values seen
    const last = events[events.length - 1];
    expect(last.event).toBe('job');
    expect(last.data).toMatchObject({ id: job.id, status: { code: 'completed' }, progress: 100 });
  });

  it('cancel mid-conversion stops ffmpeg on its converter, empties storage, and sends one job.canceled callback', async () => {
    const rx = await receiver();
    const job = await jobWithFile(video, slowMp4, rx.url);
    const { ffmpeg } = await busyConverter();
    await waitFor('progress', async () => (await json(stack.api(`/v1/jobs/${job.id}`))).status.code === 'processing');
    const res = await stack.api(`/v1/jobs/${job.id}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect((await json(res)).status.code).toBe('canceled');
    await waitFor(
      'ffmpeg gone',
      async () =>
        ffmpeg.every(
          (pid) =>
            !ffmpegChildren(converters()[0].child.pid!).includes(pid) &&
            !ffmpegChildren(converters()[1].child.pid!).includes(pid),
        ),
      5_000,
      50,
    );
    // Stopped by the cancel signal (the clip at crf 12 would run far longer), on whichever converter held it.
    expect(
      converters().some((a) =>
        a.output
          .join('')
          .split('\n')
          .some((l) => l.includes(job.id) && l.includes('job canceled: stopping its conversions')),
      ),
    ).toBe(true);
    const cb = await waitFor('canceled callback', async () => rx.forJob(job.id)[0]);
    expect(cb.headers['x-kiln-event']).toBe('job.canceled');
    // The flow's finalize runs too once the canceled unit ends: still exactly one delivery.
    await untilDeliveriesSettled(stack, db, job.id);
    expect(rx.forJob(job.id)).toHaveLength(1);
    expect((await attemptRows(db, job.id)).map((r) => [r.event, r.attempt, r.status_code])).toEqual([
      ['job.canceled', 1, 200],
    ]);
    const keys: string[] = [];
    for (const prefix of [`inputs/${job.id}/`, `outputs/${job.id}/`])
      for await (const o of store.list(prefix)) keys.push(o.key);
    expect(keys).toEqual([]);
    const final = await json(stack.api(`/v1/jobs/${job.id}`));
    expect(final.status.code).toBe('canceled');
    expect(final.output).toEqual([]);
  });

  it('retries a callback answered 500 twice, with one delivery id and valid signatures', async () => {
    const rx = await receiver([500, 500, 200]);
    const job = await jobWithFile(wav, { target: 'mp3' }, rx.url);
    await waitFor('3 attempts', async () => rx.forJob(job.id).length >= 3);
    await untilDeliveriesSettled(stack, db, job.id);
    const got = rx.forJob(job.id);
    expect(got).toHaveLength(3);
    expect(new Set(got.map((g) => g.headers['x-kiln-delivery'])).size).toBe(1);
    expect(got.map((g) => g.headers['x-kiln-attempt'])).toEqual(['1', '2', '3']);
    for (const g of got)
      expect(verifyCallback(stack.webhookSecret, g.body, String(g.headers['x-kiln-signature']))).toBe(true);
    const attempts = await json(stack.api(`/v1/jobs/${job.id}/callbacks`));
    expect(attempts.map((a: { attempt: number; status_code: number }) => [a.attempt, a.status_code])).toEqual([
      [1, 500],
      [2, 500],
      [3, 200],
    ]);
    expect((await outboxRows(db, job.id)).map((r) => [r.event, r.state, r.attempts])).toEqual([
      ['job.completed', 'delivered', 3],
    ]);
  });

  it('does not retry a 400 answer, and retries a receiver slower than the timeout', async () => {
    const rx400 = await receiver([400]);
    const job1 = await jobWithFile(wav, { target: 'mp3' }, rx400.url);
    await waitFor('attempt', async () => rx400.forJob(job1.id).length >= 1);
    await untilDeliveriesSettled(stack, db, job1.id);
    expect(rx400.forJob(job1.id)).toHaveLength(1);
    expect((await attemptRows(db, job1.id)).map((r) => [r.attempt, r.status_code])).toEqual([[1, 400]]);
    expect((await outboxRows(db, job1.id)).map((r) => [r.state, r.attempts])).toEqual([['failed', 1]]);
    const j1 = await json(stack.api(`/v1/jobs/${job1.id}`));
    expect(j1.errors).toEqual([expect.objectContaining({ source: 'callback', code: 'callback_failed' })]);

    const slow = await receiver(['hang', 200]);
    const job2 = await jobWithFile(wav, { target: 'mp3' }, slow.url);
    await waitFor('2 attempts', async () => slow.forJob(job2.id).length >= 2, 30_000);
    const attempts = await json(stack.api(`/v1/jobs/${job2.id}/callbacks`));
    expect(attempts[0]).toMatchObject({
      attempt: 1,
      status_code: null,
      error: expect.stringMatching(/no answer within 1500 ms/),
    });
    expect(attempts[1]).toMatchObject({ attempt: 2, status_code: 200 });
  });

  it('a converter killed with SIGKILL mid-conversion: the unit is claimed a second time, one file survives, one callback', async () => {
    const rx = await receiver();
    const job = await jobWithFile(video, slowMp4, rx.url);
    const { app } = await busyConverter();
    // The killed converter's claim is the unit's first.
    expect((await outputRows(db, job.id)).map((o) => [o.status, o.attempt])).toEqual([['processing', 1]]);
    app.child.kill('SIGKILL');
    await app.exited;
    const final = await finished(job.id);
    expect(final.status.code).toBe('completed');
    expect(final.output).toHaveLength(1);
    await untilDeliveriesSettled(stack, db, job.id, () => rx.forJob(job.id).length > 0, 60_000);

    // The takeover is a second claim of the same unit, counted in PostgreSQL.
    const [unit, ...others] = await outputRows(db, job.id);
    expect(others).toEqual([]);
    expect(unit).toMatchObject({ status: 'completed', attempt: 2 });
    // One file in the bucket for the job: the second claim's, with the recorded checksum.
    const keys = await keysUnder(store, `outputs/${job.id}/`);
    expect(keys).toEqual([unit.object_key]);
    expect(unit.object_key).toMatch(new RegExp(`^outputs/${job.id}/${unit.id}/2/`));
    expect(await sha256Of(store, keys[0])).toBe(unit.checksum_sha256);
    // One callback: one POST arrived, one attempt was recorded, the delivery is final.
    const got = rx.forJob(job.id);
    expect(got.map((g) => g.headers['x-kiln-event'])).toEqual(['job.completed']);
    expect((await attemptRows(db, job.id)).map((r) => [r.event, r.attempt, r.status_code])).toEqual([
      ['job.completed', 1, 200],
    ]);
    expect((await outboxRows(db, job.id)).map((r) => [r.event, r.state, r.attempts])).toEqual([
      ['job.completed', 'delivered', 1],
    ]);
    stack.spawnApp('converter', `converter-after-kill`);
  });

  it('SIGTERM during a conversion lets it finish within the grace period, then exits 0', async () => {
    const job = await jobWithFile(video, slowMp4);
    const { app } = await busyConverter();
    app.child.kill('SIGTERM');
    const code = await app.exited;
    expect(code).toBe(0);
    const final = await finished(job.id);
    expect(final.status.code).toBe('completed');
    expect(final.output).toHaveLength(1);
    // It finished on this converter: no failed attempt was logged for the unit.
    expect(
      app.output
        .join('')
        .split('\n')
        .filter((l) => l.includes(job.id) && /job attempt failed/.test(l)),
    ).toEqual([]);
    expect(app.output.join('')).toMatch(
      new RegExp(`"queue":"convert"[^\\n]*"jobId":"${job.id}"[^\\n]*"outcome":"success"`),
    );
  });

  it('SIGTERM past a short grace period hands the unit back: another converter finishes it, once', async () => {
    const quick = stack.spawnApp('converter', 'converter-short-grace', { KILN_SHUTDOWN_GRACE_SECONDS: '1' });
    await stack.waitForLog(quick, /ready"/);
    // Keep only the short-grace converter running while the job starts.
    const others = converters().filter((a) => a !== quick);
    for (const o of others) await stack.stopApp(o);
    const job = await jobWithFile(video, slowMp4);
    await waitFor(
      'ffmpeg on the short-grace converter',
      async () => ffmpegChildren(quick.child.pid!).length > 0,
      60_000,
      100,
    );
    const replacement = stack.spawnApp('converter', 'converter-replacement');
    await stack.waitForLog(replacement, /ready"/);
    quick.child.kill('SIGTERM');
    expect(await quick.exited).toBe(0);
    const final = await finished(job.id);
    expect(final.status.code).toBe('completed');
    expect(final.output).toHaveLength(1);
  });
});
