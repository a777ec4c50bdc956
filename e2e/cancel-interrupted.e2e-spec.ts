// Cancel as a state machine, end to end: S3 is unavailable (a fault proxy in front of the stack's
// radosgw answers 503) while a running job is canceled, so the cancel cannot delete the job's files.
// The job answers `canceling`, its ffmpeg stops anyway, and nothing is lost or sent twice:
// - left alone, the reconciler finishes the cancel once S3 is back;
// - a repeated DELETE finishes it at once.
// Either way: the job ends `canceled`, no object is left under its prefixes, no output row is
// recorded, and exactly one `job.canceled` callback is delivered (outbox, attempt rows, receiver).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from 'pg';
import { makeTempDir, makeVideo } from '../libs/media/src/testing';
import { CallbackReceiver } from '../test/callback-receiver';
import { logLines } from '../test/e2e-helpers/app-logs';
import {
  attemptRows,
  databaseOf,
  outboxRows,
  outputRows,
  untilDeliveriesSettled,
} from '../test/e2e-helpers/deliveries';
import { submitJob } from '../test/e2e-helpers/jobs';
import { keysUnder } from '../test/e2e-helpers/object-store';
import { MinioObjectStore } from '../libs/storage/src/minio-object-store';
import { ffmpegChildren } from '../test/processes';
import { S3FaultProxy } from '../test/s3-fault-proxy';
import { Stack, json, waitFor } from '../test/stack';

jest.setTimeout(240_000);

describe('a cancel interrupted by an S3 outage is finished, once', () => {
  const proxy = new S3FaultProxy(process.env.S3_ENDPOINT ?? 'http://127.0.0.1:7490');
  const stack = new Stack();
  const receiver = new CallbackReceiver();
  let tmp: { dir: string; remove: () => Promise<void> };
  let video: Buffer;
  let db: Client;

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-cancel-interrupted-');
    video = await readFile(
      await makeVideo({ path: path.join(tmp.dir, 'long.mp4'), seconds: 30, width: 1280, height: 720, audio: true }),
    );
    await proxy.start();
    await receiver.start();
    await stack.start({
      converters: 1,
      env: {
        S3_ENDPOINT: proxy.url,
        KILN_FFMPEG_PRESET: 'slow',
        KILN_FFMPEG_THREADS: '1',
        KILN_RECONCILE_INTERVAL_MS: '500',
        KILN_RECONCILE_GRACE_MS: '2000',
      },
    });
    db = await databaseOf(stack);
  });

  afterAll(async () => {
    await db?.end();
    await stack.stop();
    await receiver.stop();
    await proxy.stop();
    await tmp?.remove();
  });

  afterEach(() => proxy.pass());

  const converter = () => stack.apps.find((a) => a.app === 'converter')!;
  /** The stack's bucket read directly, not through the fault proxy. */
  const direct = () =>
    new MinioObjectStore({
      endpoint: process.env.S3_ENDPOINT!,
      accessKey: stack.env.S3_ACCESS_KEY,
      secretKey: stack.env.S3_SECRET_KEY,
      bucket: stack.env.S3_BUCKET,
    });
  const statusOf = async (id: string) =>
    (await db.query<{ status: string }>('SELECT status FROM jobs WHERE id = $1', [id])).rows[0].status;

  /** A job whose ffmpeg is running on the converter. */
  async function runningJob(): Promise<string> {
    const id = await submitJob(stack, video, 'long.mp4', { target: 'mp4', options: { crf: 12 } }, receiver.url);
    await waitFor('ffmpeg running for the job', async () => ffmpegChildren(converter().child.pid!).length > 0, 120_000);
    return id;
  }

  /** DELETE while S3 answers 503: `canceling`, ffmpeg stopped, the input still stored, nothing sent. */
  async function cancelDuringOutage(id: string): Promise<void> {
    const store = direct();
    expect(await keysUnder(store, `inputs/${id}/`)).not.toEqual([]);
    proxy.unavailable();
    const res = await stack.api(`/v1/jobs/${id}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect((await json(res)).status.code).toBe('canceling');
    expect(proxy.faulted().length).toBeGreaterThan(0);
    // The Redis cancel message still stops ffmpeg at once.
    await waitFor('ffmpeg stopped', async () => ffmpegChildren(converter().child.pid!).length === 0, 30_000);
    expect(await statusOf(id)).toBe('canceling');
    expect(await outboxRows(db, id)).toEqual([]);
  }

  /** What a finished cancel leaves: canceled, no file, no output, one delivered job.canceled. */
  async function expectCanceledOnce(id: string): Promise<void> {
    const store = direct();
    expect(await statusOf(id)).toBe('canceled');
    expect(await keysUnder(store, `inputs/${id}/`)).toEqual([]);
    expect(await keysUnder(store, `outputs/${id}/`)).toEqual([]);
    expect((await outputRows(db, id)).map((o) => [o.status, o.object_key])).toEqual([['canceled', null]]);
    await untilDeliveriesSettled(stack, db, id, () => receiver.forJob(id).length > 0);
    expect(await outboxRows(db, id)).toMatchObject([{ event: 'job.canceled', state: 'delivered', attempts: 1 }]);
    expect((await attemptRows(db, id)).map((a) => [a.event, a.status_code])).toEqual([['job.canceled', 200]]);
    expect(receiver.forJob(id).map((r) => r.headers['x-kiln-event'])).toEqual(['job.canceled']);
  }

  it('left alone, the reconciler finishes it once S3 is back', async () => {
    const id = await runningJob();
    await cancelDuringOutage(id);
    // Still canceling while S3 is down: the reconciler's own attempts fail too and change nothing.
    await waitFor(
      'the reconciler to try while S3 is down',
      async () =>
        logLines(stack.apps.find((a) => a.app === 'assembler')!).some(
          (l) => l.msg === 'reconciler step failed' && (l as { step?: string }).step === 'cancels',
        ),
      30_000,
    );
    expect(await statusOf(id)).toBe('canceling');
    proxy.pass();
    await waitFor('the reconciler to finish the cancel', async () => (await statusOf(id)) === 'canceled', 60_000);
    await expectCanceledOnce(id);
  });

  it('a repeated DELETE finishes it at once', async () => {
    const id = await runningJob();
    await cancelDuringOutage(id);
    proxy.pass();
    const again = await stack.api(`/v1/jobs/${id}`, { method: 'DELETE' });
    expect(again.status).toBe(200);
    expect((await json(again)).status.code).toBe('canceled');
    await expectCanceledOnce(id);
    // A third DELETE of the canceled job changes nothing and sends nothing.
    expect((await json(stack.api(`/v1/jobs/${id}`, { method: 'DELETE' }))).status.code).toBe('canceled');
    await untilDeliveriesSettled(stack, db, id);
    expect(receiver.forJob(id)).toHaveLength(1);
  });
});
