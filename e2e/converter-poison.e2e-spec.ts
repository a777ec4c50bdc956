// A poison input that crashes ffmpeg every time. The converters run an ffmpeg (FFMPEG_PATH) that
// kills itself with SIGSEGV when its input holds a marker and is the real ffmpeg otherwise. The
// poison job ends `failed` after the convert queue's attempts, counted in PostgreSQL
// (outputs.attempt) and in BullMQ, with an error that names the crash as an infrastructure failure;
// the other jobs on the same converters complete, and the converter processes live throughout.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Queue } from 'bullmq';
import type { Client } from 'pg';
import { jobIdFor } from '../libs/contracts/src';
import { makeAudio, makeCrashingTool, makePoisonAudio, makeTempDir } from '../libs/media/src/testing';
import { QUEUE_JOB_DEFAULTS, createRedis } from '../libs/queue/src';
import { CallbackReceiver } from '../test/callback-receiver';
import { alive, logLines, problems } from '../test/e2e-helpers/app-logs';
import { databaseOf } from '../test/e2e-helpers/deliveries';
import { jobEnded, submitJob } from '../test/e2e-helpers/jobs';
import { untilQueuesIdle, JOB_QUEUES } from '../test/e2e-helpers/queues';
import { Stack, json } from '../test/stack';

jest.setTimeout(300_000);

/** What BullMQ allows a convert unit: the bound the poison job must end within. */
const CONVERT_ATTEMPTS = QUEUE_JOB_DEFAULTS.convert.attempts!;

describe('a poison input that crashes ffmpeg every time', () => {
  const stack = new Stack();
  const receiver = new CallbackReceiver();
  let tmp: { dir: string; remove: () => Promise<void> };
  let db: Client;

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-poison-');
    const crashing = await makeCrashingTool(tmp.dir, 'ffmpeg');
    await receiver.start();
    await stack.start({ converters: 2, env: { FFMPEG_PATH: crashing } });
    db = await databaseOf(stack);
  });

  afterAll(async () => {
    await db?.end();
    await stack.stop();
    await receiver.stop();
    await tmp?.remove();
  });

  it(`ends failed after ${CONVERT_ATTEMPTS} attempts with a clear error; other jobs complete; no converter dies`, async () => {
    const converters = stack.apps.filter((a) => a.app === 'converter');
    const pids = converters.map((c) => c.child.pid);
    const poison = await readFile(await makePoisonAudio(path.join(tmp.dir, 'poison.wav')));
    const clean = await readFile(await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 1, format: 'wav' }));

    const poisonId = await submitJob(stack, poison, 'poison.wav', { target: 'mp3' }, receiver.url);
    const others: string[] = [];
    for (let i = 0; i < 4; i++)
      others.push(await submitJob(stack, clean, `tone-${i}.wav`, { target: i % 2 ? 'ogg' : 'mp3' }, receiver.url));

    const poisoned = await jobEnded(stack, poisonId, 120_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${problems(stack)}`);
    });
    const message = `infrastructure failure (not a problem with the input): ffmpeg crashed (killed by SIGSEGV); gave up after ${CONVERT_ATTEMPTS} attempts`;
    expect({ status: poisoned.status.code, errors: poisoned.errors, output: poisoned.output }).toEqual({
      status: 'failed',
      errors: [expect.objectContaining({ code: 'internal', message: expect.stringContaining(message) })],
      output: [],
    });
    for (const id of others)
      expect({ id, status: (await jobEnded(stack, id, 60_000)).status.code }).toEqual({ id, status: 'completed' });

    // Counted in the ledger: one claim per BullMQ attempt, no more.
    const { rows } = await db.query<{
      id: string;
      input_id: string;
      conversion_id: string;
      status: string;
      attempt: number;
      error_code: string;
      error: string;
    }>('SELECT id, input_id, conversion_id, status, attempt, error_code, error FROM outputs WHERE job_id = $1', [
      poisonId,
    ]);
    expect(rows.map((r) => ({ status: r.status, attempt: r.attempt, code: r.error_code, error: r.error }))).toEqual([
      { status: 'failed', attempt: CONVERT_ATTEMPTS, code: 'internal', error: message },
    ]);
    // And in BullMQ: the unit's job failed after all its attempts.
    const redis = createRedis(stack.env.REDIS_URL, 'client');
    const queue = new Queue('convert', { connection: redis, prefix: stack.env.KILN_QUEUE_PREFIX });
    try {
      const unit = rows[0];
      const bull = await queue.getJob(
        jobIdFor('convert', {
          jobId: poisonId,
          inputId: unit.input_id,
          conversionId: unit.conversion_id,
          outputId: unit.id,
        }),
      );
      expect({ state: await bull?.getState(), attemptsMade: bull?.attemptsMade }).toEqual({
        state: 'failed',
        attemptsMade: CONVERT_ATTEMPTS,
      });
    } finally {
      await queue.close();
      redis.disconnect();
    }

    // Each attempt crashed ffmpeg, was logged as an infrastructure failure and retried; the converters lived.
    const crashes = converters.flatMap((c) =>
      logLines(c)
        .filter(
          (l) => l.jobId === poisonId && l.msg === 'ffmpeg failed: an infrastructure failure, the unit is retried',
        )
        .map((l) => ({ converter: c.name, attempt: l.attempt, err: l.err })),
    );
    expect(crashes.map((c) => ({ attempt: c.attempt, err: c.err })).sort((a, b) => a.attempt! - b.attempt!)).toEqual(
      Array.from({ length: CONVERT_ATTEMPTS }, (_, i) => ({
        attempt: i + 1,
        err: 'ffmpeg crashed (killed by SIGSEGV)',
      })),
    );
    expect(alive(converters)).toBe(true);
    expect(converters.map((c) => c.child.pid)).toEqual(pids);

    // One callback per job: job.failed for the poison, job.completed for the rest.
    await untilQueuesIdle(stack.env.REDIS_URL, stack.env.KILN_QUEUE_PREFIX, JOB_QUEUES, 'the queues to settle', () =>
      [poisonId, ...others].every((id) => receiver.forJob(id).length > 0),
    );
    expect(receiver.forJob(poisonId).map((c) => c.headers['x-kiln-event'])).toEqual(['job.failed']);
    for (const id of others)
      expect(receiver.forJob(id).map((c) => c.headers['x-kiln-event'])).toEqual(['job.completed']);
    // The converters still take work after it.
    const after = await submitJob(stack, clean, 'after.wav', { target: 'mp3' }, receiver.url);
    expect((await jobEnded(stack, after, 60_000)).status.code).toBe('completed');
    expect(alive(converters)).toBe(true);
    const poisonView = await json(stack.api(`/v1/jobs/${poisonId}`));
    console.log(
      `poison input: failed after ${rows[0].attempt} attempts (${crashes.map((c) => c.converter).join(', ')}); ` +
        `error: ${poisonView.errors[0].message}`,
    );
  });
});
