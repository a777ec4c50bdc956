// Callback retries wait longer each time: a receiver answers 503 four times, then 200. The gaps
// between the arrivals follow the configured backoff (KILN_CALLBACK_BACKOFF_MS, doubled per attempt,
// jittered), every attempt carries the same delivery id and the next attempt number, and each one
// is recorded. Real processes, PostgreSQL, Redis, S3, ffmpeg; times are the receiver's arrival times.
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import type { Client } from 'pg';
import { makeAudio, makeTempDir } from '../libs/media/src/testing';
import { verifyCallback } from '../libs/outbound-http/src/callback-signature';
import { CallbackReceiver } from '../test/callback-receiver';
import { attemptRows, databaseOf, outboxRows, untilDeliveriesSettled } from '../test/e2e-helpers/deliveries';
import { jobEnded, submitJob } from '../test/e2e-helpers/jobs';
import { Stack } from '../test/stack';

jest.setTimeout(120_000);

/** KILN_CALLBACK_BACKOFF_MS: the wait after the first failed attempt; it doubles after each next one. */
const BASE_MS = 800;
/**
 * The jitter the callback queue is given (enqueueCallback in libs/workflow/src/job-lifecycle.ts):
 * BullMQ's exponential backoff with jitter j waits a random time in [(1 - j)·d, d) for d =
 * base·2^(attempt-1) (node_modules/bullmq/dist/cjs/classes/backoffs.js).
 */
const JITTER = 0.3;
/** What a retry may take beyond its wait on a busy machine: recording the attempt, the queue's hand-off, the next POST. */
const OVERHEAD_MS = 1_000;
const FAILURES = 4;

describe('callback retries back off exponentially, one delivery id, every attempt recorded', () => {
  const stack = new Stack();
  const receiver = new CallbackReceiver();
  let tmp: { dir: string; remove: () => Promise<void> };
  let db: Client;

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-backoff-');
    await receiver.start();
    await stack.start({
      converters: 1,
      env: {
        KILN_CALLBACK_BACKOFF_MS: String(BASE_MS),
        KILN_CALLBACK_ATTEMPTS: String(FAILURES + 2),
        KILN_CALLBACK_TIMEOUT_MS: '5000',
      },
    });
    db = await databaseOf(stack);
  });

  afterAll(async () => {
    await db?.end();
    await stack.stop();
    await receiver.stop();
    await tmp?.remove();
  });

  it(`waits about ${BASE_MS}·2^(n-1) ms (jitter ${JITTER}) after the n-th of ${FAILURES} answers 503, then delivers`, async () => {
    receiver.script = Array(FAILURES).fill(503);
    const wav = await readFile(await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 1, format: 'wav' }));
    const id = await submitJob(stack, wav, 'tone.wav', { target: 'mp3' }, receiver.url);
    expect((await jobEnded(stack, id)).status.code).toBe('completed');
    await untilDeliveriesSettled(stack, db, id, () => receiver.forJob(id).length > FAILURES, 60_000);

    const got = receiver.forJob(id);
    expect(got).toHaveLength(FAILURES + 1);
    expect(new Set(got.map((g) => g.headers['x-kiln-delivery'])).size).toBe(1);
    expect(got.map((g) => g.headers['x-kiln-attempt'])).toEqual(got.map((_, i) => String(i + 1)));
    expect(got.map((g) => g.headers['x-kiln-event'])).toEqual(got.map(() => 'job.completed'));
    for (const g of got)
      expect(verifyCallback(stack.webhookSecret, g.body, String(g.headers['x-kiln-signature']))).toBe(true);

    // The wait after attempt n is drawn from [(1 - jitter)·d, d) with d = base·2^(n-1); the next
    // attempt arrives no sooner, and later only by the work of one retry.
    const gaps = got.slice(1).map((g, i) => g.at - got[i].at);
    const bounds = gaps.map((_, i) => {
      const d = BASE_MS * 2 ** i;
      return { min: Math.floor(d * (1 - JITTER)), max: d + OVERHEAD_MS };
    });
    console.log(`callback backoff gaps (ms): ${gaps.join(', ')}; bounds ${JSON.stringify(bounds)}`);
    gaps.forEach((gap, i) => {
      expect({ attempt: i + 1, gap, early: gap < bounds[i].min, late: gap > bounds[i].max }).toEqual({
        attempt: i + 1,
        gap,
        early: false,
        late: false,
      });
    });
    // Each wait is longer than the one before: the shortest possible next wait, 1.4 times the longest
    // possible last one, leaves room for the retry's own work.
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBeGreaterThan(gaps[i - 1]);

    // Every attempt is recorded under the one delivery id: four refusals and the delivery.
    const rows = await attemptRows(db, id);
    expect(rows.map((r) => [r.delivery_id, r.event, r.attempt, r.status_code])).toEqual(
      got.map((g, i) => [g.headers['x-kiln-delivery'], 'job.completed', i + 1, i < FAILURES ? 503 : 200]),
    );
    expect((await outboxRows(db, id)).map((r) => [r.delivery_id, r.state, r.attempts])).toEqual([
      [got[0].headers['x-kiln-delivery'], 'delivered', FAILURES + 1],
    ]);
  });
});
