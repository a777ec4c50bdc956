// A callback URL whose host name resolves to a loopback address is refused when the callback is
// sent, with private URLs disallowed (KILN_ALLOW_PRIVATE_URLS=false, the default). The gateway checks
// only what a URL says (a literal private address); a host name passes it. Here the name resolves to
// 127.0.0.1 only inside the converter: it runs in its own mount namespace over a hosts file of the
// test's, so the send-time guard (the DNS lookup of the converter's socket) is what refuses it.
// Real processes, PostgreSQL, Redis, S3, ffmpeg.
import { execFile } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client } from 'pg';
import { makeAudio, makeTempDir } from '../libs/media/src/testing';
import { CallbackReceiver } from '../test/callback-receiver';
import { attemptRows, databaseOf, outboxRows, untilDeliveriesSettled } from '../test/e2e-helpers/deliveries';
import { jobEnded, submitJob } from '../test/e2e-helpers/jobs';
import { Stack, json } from '../test/stack';

jest.setTimeout(120_000);

/** Resolves to 127.0.0.1 in the converter's hosts file, and nowhere else (`.test` is a reserved name). */
const HOOK_HOST = 'kiln-receiver.test';

/** Runs a command with /etc/hosts replaced by `hostsFile`, in a mount namespace of its own. */
function withHostsFile(hostsFile: string): string[] {
  return ['unshare', '--mount', '--', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hostsFile];
}

describe('callback to a host name that resolves to loopback, private URLs disallowed', () => {
  const stack = new Stack();
  const receiver = new CallbackReceiver();
  let tmp: { dir: string; remove: () => Promise<void> };
  let hostsFile: string;
  let db: Client;

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-ssrf-');
    hostsFile = path.join(tmp.dir, 'hosts');
    await writeFile(hostsFile, `${await readFile('/etc/hosts', 'utf8')}\n127.0.0.1 ${HOOK_HOST}\n`);
    await receiver.start();
    await stack.start({
      converters: 1,
      env: { KILN_ALLOW_PRIVATE_URLS: 'false', KILN_CALLBACK_BACKOFF_MS: '200', KILN_CALLBACK_ATTEMPTS: '4' },
      placement: (app) => (app === 'converter' ? { command: withHostsFile(hostsFile) } : undefined),
    });
    db = await databaseOf(stack);
  });

  afterAll(async () => {
    await db?.end();
    await stack.stop();
    await receiver.stop();
    await tmp?.remove();
  });

  const hookUrl = () => `http://${HOOK_HOST}:${new URL(receiver.url).port}/hook`;

  it('the name resolves to 127.0.0.1 in the converter only; the gateway refuses the literal address, not the name', async () => {
    await expect(lookup(HOOK_HOST)).rejects.toThrow(/ENOTFOUND|EAI_AGAIN/);
    const [command, ...args] = [...withHostsFile(hostsFile), 'getent', 'hosts', HOOK_HOST];
    const { stdout } = await promisify(execFile)(command, args);
    expect(stdout.trim().split(/\s+/)).toEqual(['127.0.0.1', HOOK_HOST]);

    const create = (callback: string) =>
      stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ conversion: [{ target: 'mp3' }], callback }),
      });
    const literal = await create(receiver.url);
    expect(literal.status).toBe(400);
    expect((await json(literal)).error).toMatchObject({ code: 'invalid_input' });
    expect((await create(hookUrl())).status).toBe(201);
  });

  it('the converter refuses to send: nothing arrives, one attempt is recorded with the reason, never retried', async () => {
    const wav = await readFile(await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 1, format: 'wav' }));
    const id = await submitJob(stack, wav, 'tone.wav', { target: 'mp3' }, hookUrl());
    const final = await jobEnded(stack, id);
    expect(final.status.code).toBe('completed');
    await untilDeliveriesSettled(stack, db, id, async () => (await attemptRows(db, id)).length > 0);

    expect(receiver.received.map((r) => `${r.headers['x-kiln-event']} attempt ${r.headers['x-kiln-attempt']}`)).toEqual(
      [],
    );
    const rows = await attemptRows(db, id);
    expect(rows).toEqual([
      {
        delivery_id: expect.any(String),
        event: 'job.completed',
        attempt: 1,
        status_code: null,
        error: expect.stringContaining(`${HOOK_HOST} resolves to a private or reserved address (127.0.0.1`),
      },
    ]);
    expect((await outboxRows(db, id)).map((r) => [r.delivery_id, r.state, r.attempts])).toEqual([
      [rows[0].delivery_id, 'failed', 1],
    ]);
    const job = await json(stack.api(`/v1/jobs/${id}`));
    expect(job.errors).toEqual([
      expect.objectContaining({
        source: 'callback',
        code: 'callback_failed',
        message: expect.stringContaining('private or reserved address'),
      }),
    ]);
  });
});
