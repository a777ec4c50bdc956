// An online-convert client pointed at Kiln: the seed flow (a job with process: false, a conversion, an
// upload input, chunks sent with X-Oc-Upload-Uuid, PATCH to process) using only online-convert's
// header names, and notify_status: one callback per status change, through the outbox, no duplicates.
// Real gateway, assembler and converter processes, PostgreSQL, Redis, S3 and ffmpeg.
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from 'pg';
import { verifyCallback } from '../libs/outbound-http/src/callback-signature';
import { probe } from '../libs/media/src/probe';
import { makeAudio, makeTempDir } from '../libs/media/src/testing';
import { CallbackReceiver } from '../test/callback-receiver';
import { attemptRows, databaseOf, outboxRows, untilDeliveriesSettled } from '../test/e2e-helpers/deliveries';
import { jobEnded } from '../test/e2e-helpers/jobs';
import { chunkRanges } from '../test/files';
import { Stack, json, waitFor } from '../test/stack';

jest.setTimeout(300_000);

const stack = new Stack();
/** The credential as an online-convert client sends it. */
const headers: Record<string, string> = { 'X-Oc-Api-Key': stack.apiKey };

describe('online-convert compatibility', () => {
  let tmp: { dir: string; remove: () => Promise<void> };
  let wav: Buffer;
  let db: Client;
  let receiver: CallbackReceiver;

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-oc-');
    wav = await readFile(await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 2, format: 'wav' }));
    receiver = await new CallbackReceiver().start();
    await stack.start({ converters: 1 });
    db = await databaseOf(stack);
  });

  afterAll(async () => {
    await db?.end();
    await stack.stop();
    await receiver?.stop();
    await tmp?.remove();
  });

  /** A request with online-convert's header names only (no X-Api-Key added by the stack). */
  const oc = (pathname: string, method: string, body?: unknown, extra: Record<string, string> = {}) =>
    stack.api(pathname, {
      method,
      key: null,
      headers: { ...headers, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...extra },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  /**
   * Sends the file in chunks of 96 KiB, out of order, each with X-Oc-Upload-Uuid and Content-Range,
   * authorized by the job's token as X-Oc-Token (as online-convert's upload server takes it).
   */
  async function uploadChunks(jobId: string, token: string): Promise<Response> {
    const uuid = randomUUID();
    const ranges = chunkRanges(wav.length, 96 * 1024);
    expect(ranges.length).toBeGreaterThan(1);
    let last: Response | undefined;
    for (const [i, r] of [...ranges.slice(1), ranges[0]].entries()) {
      last = await stack.api(`/v1/jobs/${jobId}/upload`, {
        method: 'POST',
        key: null,
        headers: {
          'X-Oc-Token': token,
          'X-Oc-Upload-Uuid': uuid,
          'Content-Range': `bytes ${r.start}-${r.end}/${wav.length}`,
          'Content-Type': 'application/octet-stream',
        },
        body: wav.subarray(r.start, r.end + 1),
      });
      expect(last.status).toBe(i === ranges.length - 1 ? 201 : 202);
    }
    const { rows } = await db.query('SELECT client_upload_id, size FROM uploads WHERE job_id = $1', [jobId]);
    expect(rows).toEqual([{ client_upload_id: uuid, size: String(wav.length) }]);
    return last!;
  }

  /** The events the receiver got for a job (X-Kiln-Event), sorted, after its deliveries settled. */
  async function settledEvents(jobId: string): Promise<string[]> {
    await untilDeliveriesSettled(stack, db, jobId, () =>
      receiver.forJob(jobId).some((r) => r.json.status.code !== 'incomplete'),
    );
    return receiver
      .forJob(jobId)
      .map((r) => String(r.headers['x-kiln-event']))
      .sort();
  }

  it('runs the seed flow with online-convert header names; PATCH notify_status gives one callback per status change', async () => {
    const created = await oc('/v1/jobs', 'POST', { process: false, callback: receiver.url });
    expect(created.status).toBe(201);
    const job = await json(created);
    expect(job).toMatchObject({ process: false, notify_status: false, status: { code: 'incomplete' } });

    // online-convert sends the category with the target: the target's own is accepted, another is 400.
    const wrong = await oc(`/v1/jobs/${job.id}/conversions`, 'POST', { target: 'mp3', category: 'video' });
    expect(wrong.status).toBe(400);
    expect((await json(wrong)).error).toMatchObject({ code: 'invalid_input', details: [{ field: 'category' }] });
    const conv = await oc(`/v1/jobs/${job.id}/conversions`, 'POST', { target: 'mp3', category: 'audio' });
    expect(conv.status).toBe(201);
    const { rows: convRows } = await db.query('SELECT target, category FROM conversions WHERE job_id = $1', [job.id]);
    expect(convRows).toEqual([{ target: 'mp3', category: 'audio' }]);
    const input = await oc(`/v1/jobs/${job.id}/input`, 'POST', { type: 'upload', filename: 'tone.wav' });
    expect(input.status).toBe(201);
    const inputId = (await json(input)).id;

    const done = await json(await uploadChunks(job.id, job.token));
    expect(done).toMatchObject({ complete: true, input: { id: inputId, filename: 'tone.wav' } });
    await waitFor(
      'the input assembled',
      async () => (await json(oc(`/v1/jobs/${job.id}/input`, 'GET')))[0].status === 'ready',
    );
    // process: false waits, and no callback has been sent yet.
    expect((await json(oc(`/v1/jobs/${job.id}`, 'GET'))).status.code).toBe('incomplete');
    expect(receiver.forJob(job.id)).toEqual([]);

    const patched = await oc(`/v1/jobs/${job.id}`, 'PATCH', { process: true, notify_status: true });
    expect(patched.status).toBe(200);
    expect(await json(patched)).toMatchObject({ process: true, notify_status: true });

    const ended = await jobEnded(stack, job.id);
    expect(ended.status.code).toBe('completed');
    const [output] = await json(oc(`/v1/jobs/${job.id}/output`, 'GET'));
    const out = path.join(tmp.dir, 'seed.mp3');
    await writeFile(out, Buffer.from(await (await fetch(output.uri)).arrayBuffer()));
    expect(await probe(out, { timeoutMs: 10_000 })).toMatchObject({ kind: 'audio', audio_codec: 'mp3' });

    // One delivery per status change after PATCH: queued, processing, completed; each once, signed.
    expect(await settledEvents(job.id)).toEqual(['job.completed', 'job.processing', 'job.queued']);
    const got = receiver.forJob(job.id);
    expect(new Set(got.map((r) => r.headers['x-kiln-delivery'])).size).toBe(3);
    for (const r of got) {
      expect(verifyCallback(stack.webhookSecret, r.body, String(r.headers['x-kiln-signature']))).toBe(true);
      expect(r.json.id).toBe(job.id);
    }
    expect(got.find((r) => r.headers['x-kiln-event'] === 'job.completed')?.json.status.code).toBe('completed');
    const outbox = await outboxRows(db, job.id);
    expect(outbox.map((r) => [r.event, r.state, r.attempts])).toEqual([
      ['job.completed', 'delivered', 1],
      ['job.processing', 'delivered', 1],
      ['job.queued', 'delivered', 1],
    ]);
    expect((await attemptRows(db, job.id)).map((a) => [a.event, a.attempt, a.status_code])).toEqual([
      ['job.completed', 1, 200],
      ['job.processing', 1, 200],
      ['job.queued', 1, 200],
    ]);
    const listed = await json(oc(`/v1/jobs/${job.id}/callbacks`, 'GET'));
    expect(listed.map((c: { event: string }) => c.event).sort()).toEqual([
      'job.completed',
      'job.processing',
      'job.queued',
    ]);
  });

  it('notify_status at creation also reports downloading; without it only the final callback is sent', async () => {
    const create = (notify: boolean) =>
      oc('/v1/jobs', 'POST', {
        callback: receiver.url,
        input: [{ type: 'upload', filename: 'tone.wav' }],
        conversion: [{ target: 'ogg' }],
        ...(notify ? { notify_status: true } : {}),
      }).then(json);
    const [notified, plain] = await Promise.all([create(true), create(false)]);
    expect([notified.notify_status, plain.notify_status]).toEqual([true, false]);
    await Promise.all([uploadChunks(notified.id, notified.token), uploadChunks(plain.id, plain.token)]);
    const ends = await Promise.all([jobEnded(stack, notified.id), jobEnded(stack, plain.id)]);
    expect(ends.map((j) => j.status.code)).toEqual(['completed', 'completed']);

    expect(await settledEvents(notified.id)).toEqual([
      'job.completed',
      'job.downloading',
      'job.processing',
      'job.queued',
    ]);
    expect(await settledEvents(plain.id)).toEqual(['job.completed']);
    const rows = async (jobId: string) => (await outboxRows(db, jobId)).map((r) => [r.event, r.state]);
    expect(await rows(notified.id)).toEqual([
      ['job.completed', 'delivered'],
      ['job.downloading', 'delivered'],
      ['job.processing', 'delivered'],
      ['job.queued', 'delivered'],
    ]);
    expect(await rows(plain.id)).toEqual([['job.completed', 'delivered']]);
    expect(await attemptRows(db, plain.id)).toHaveLength(1);
    expect(await attemptRows(db, notified.id)).toHaveLength(4);
  });
});
