// A converter whose scratch space (KILN_TMP_DIR) is a small tmpfs (8 MiB, mounted by this test; it
// needs root). A job whose output does not fit (a minute of MP3 → WAV, ~10 MiB) fails as an
// infrastructure failure once its retries ran out, not as a bad input; the converter keeps running,
// converts a small job afterwards, and leaves nothing in its temp dir. At start the converter
// removed the folder a dead converter left there, and kept a live process's.
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from 'pg';
import { localTag, processStart, workDirPrefix } from '../apps/converter/src/work-dirs';
import { makeAudio, makeTempDir } from '../libs/media/src/testing';
import { QUEUE_JOB_DEFAULTS } from '../libs/queue/src';
import { CallbackReceiver } from '../test/callback-receiver';
import { alive, logLines, problems } from '../test/e2e-helpers/app-logs';
import { databaseOf } from '../test/e2e-helpers/deliveries';
import { jobEnded, submitJob } from '../test/e2e-helpers/jobs';
import { Stack, waitFor } from '../test/stack';

jest.setTimeout(300_000);

const CONVERT_ATTEMPTS = QUEUE_JOB_DEFAULTS.convert.attempts!;
const TMPFS_SIZE = '8m';

describe('the converter disk fills up', () => {
  const stack = new Stack();
  const receiver = new CallbackReceiver();
  let tmp: { dir: string; remove: () => Promise<void> };
  let scratch = '';
  let mounted = false;
  let db: Client;
  const left: { dead: string; live: string } = { dead: '', live: '' };

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-disk-full-');
    scratch = path.join(tmp.dir, 'scratch');
    await mkdir(scratch);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700`, 'kiln-e2e-scratch', scratch], {
        stdio: 'pipe',
      });
    } catch (err: unknown) {
      throw new Error(`this test mounts a tmpfs and needs root: ${String((err as { stderr?: Buffer }).stderr ?? err)}`);
    }
    mounted = true;
    // Left before the converter starts: the folder of a converter that died mid-unit (its input
    // still inside), and one of a process that is alive (this test's), which must stay.
    const dead = spawn('true');
    await new Promise((r) => dead.once('exit', r));
    left.dead = `${workDirPrefix({ tag: localTag(), pid: dead.pid!, start: 1 })}Ab12Cd`;
    left.live = `${workDirPrefix({ tag: localTag(), pid: process.pid, start: processStart(process.pid)! })}Ef34Gh`;
    await mkdir(path.join(scratch, left.dead));
    await writeFile(path.join(scratch, left.dead, 'input'), Buffer.alloc(1024 * 1024));
    await mkdir(path.join(scratch, left.live));

    await receiver.start();
    await stack.start({
      converters: 1,
      placement: (app) => (app === 'converter' ? { env: { KILN_TMP_DIR: scratch } } : undefined),
    });
    db = await databaseOf(stack);
  });

  afterAll(async () => {
    await db?.end();
    await stack.stop();
    await receiver.stop();
    if (mounted) execFileSync('umount', [scratch]);
    await tmp?.remove();
  });

  it('at start, the converter removed the dead converter’s folder and kept the live one', async () => {
    const converter = stack.apps.find((a) => a.app === 'converter')!;
    expect(await readdir(scratch)).toEqual([left.live]);
    const swept = logLines(converter).find((l) => l.msg === 'removed temp dirs left by converters that are gone');
    expect(swept).toMatchObject({ removed: [left.dead] });
  });

  it('an output that does not fit fails as an infrastructure failure after its retries; the converter goes on', async () => {
    const converter = stack.apps.find((a) => a.app === 'converter')!;
    const pid = converter.child.pid;
    // ~0.9 MiB of MP3 in, ~10 MiB of WAV out: the input fits in 8 MiB, the output does not.
    const mp3 = await readFile(await makeAudio({ path: path.join(tmp.dir, 'minute.mp3'), seconds: 60, format: 'mp3' }));
    const big = await submitJob(stack, mp3, 'minute.mp3', { target: 'wav' }, receiver.url);
    const failed = await jobEnded(stack, big, 120_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${problems(stack)}`);
    });
    const message = `infrastructure failure (not a problem with the input): ffmpeg could not write: no space left on the converter's disk (ENOSPC); gave up after ${CONVERT_ATTEMPTS} attempts`;
    expect({ status: failed.status.code, errors: failed.errors }).toEqual({
      status: 'failed',
      errors: [expect.objectContaining({ code: 'internal', message: `minute.mp3 → wav: ${message}` })],
    });
    const { rows } = await db.query<{ status: string; attempt: number; error_code: string; error: string }>(
      'SELECT status, attempt, error_code, error FROM outputs WHERE job_id = $1',
      [big],
    );
    expect(rows).toEqual([{ status: 'failed', attempt: CONVERT_ATTEMPTS, error_code: 'internal', error: message }]);
    const attempts = logLines(converter).filter(
      (l) => l.jobId === big && l.msg === 'ffmpeg failed: an infrastructure failure, the unit is retried',
    );
    expect(attempts.map((l) => l.err)).toEqual(
      Array(CONVERT_ATTEMPTS).fill("ffmpeg could not write: no space left on the converter's disk (ENOSPC)"),
    );

    // The same converter process converts a small job afterwards.
    const wav = await readFile(await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 1, format: 'wav' }));
    const small = await submitJob(stack, wav, 'tone.wav', { target: 'mp3' }, receiver.url);
    expect((await jobEnded(stack, small, 60_000)).status.code).toBe('completed');
    expect({ alive: alive([converter]), pid: converter.child.pid }).toEqual({ alive: true, pid });

    // Nothing of the converter's is left in its temp dir (the live process's folder was never its).
    await waitFor('the scratch space emptied', async () => (await readdir(scratch)).join() === left.live, 10_000);
    await rm(path.join(scratch, left.live), { recursive: true });
    expect(await readdir(scratch)).toEqual([]);
  });
});
