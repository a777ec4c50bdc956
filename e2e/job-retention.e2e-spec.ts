// Retention end to end (gateway, assembler and converter as OS processes, real PostgreSQL, Redis,
// S3 and ffmpeg): a job created with a near `expires_at` shows it, signs download URLs that end with
// it, and once the assembler's expire-jobs task has run after it, the job, its outputs and downloads
// are 404, its objects and rows are gone, an earlier URL serves no byte, and its bytes no longer count
// against the key's storage quota. A bad `expires_at` is refused and stores nothing.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { makeAudio, makeTempDir } from '../libs/media/src/testing';
import { jobEnded } from '../test/e2e-helpers/jobs';
import { keysUnder, objectStoreOf } from '../test/e2e-helpers/object-store';
import { Stack, json, waitFor } from '../test/stack';

jest.setTimeout(240_000);

const QUOTA = 4 * 1024 * 1024;
const stack = new Stack();
let db: Client;
let tmp: { dir: string; remove: () => Promise<void> };
let wav: string;

beforeAll(async () => {
  tmp = await makeTempDir('kiln-retention-');
  wav = await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 1, format: 'wav' });
  await stack.start({ converters: 1, env: { KILN_STORAGE_QUOTA_PER_KEY: String(QUOTA) } });
  db = new Client({ connectionString: stack.db.url });
  await db.connect();
});

afterAll(async () => {
  await db?.end();
  await stack.stop();
  await tmp?.remove();
});

const post = (pathname: string, body: unknown) =>
  stack.api(pathname, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

/** Rows of a job in each table that holds them. */
async function rowsOf(jobId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of ['jobs', 'inputs', 'conversions', 'outputs', 'uploads', 'deliveries', 'callback_deliveries']) {
    const column = table === 'jobs' ? 'id' : 'job_id';
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM ${table} WHERE ${column} = $1`, [jobId]);
    counts[table] = rows[0].n;
  }
  return counts;
}

/** Runs the assembler's expire-jobs maintenance task now and waits for it to finish. */
async function runExpireJobs(): Promise<void> {
  const redis = new Redis(stack.env.REDIS_URL, { maxRetriesPerRequest: null });
  const q = new Queue('maintenance', { connection: redis, prefix: stack.env.KILN_QUEUE_PREFIX });
  try {
    const job = await q.add('maintenance', { task: 'expire-jobs' }, { jobId: `test-expire-jobs-${Date.now()}` });
    const done = await waitFor('expire-jobs run', async () => {
      const j = await q.getJob(job.id!);
      return j?.finishedOn ? j : undefined;
    });
    expect(done.failedReason).toBeUndefined();
  } finally {
    await q.close();
    redis.disconnect();
  }
}

describe('job retention', () => {
  it('refuses an expires_at in the past or not whole epoch seconds, storing nothing', async () => {
    const before = (await db.query('SELECT count(*)::int AS n FROM jobs')).rows[0].n;
    const past = Math.floor(Date.now() / 1000) - 60;
    for (const expires_at of [past, 1.5, '2030-01-01', -1]) {
      const res = await post('/v1/jobs', { conversion: [{ target: 'mp3' }], expires_at });
      expect(res.status).toBe(400);
      const body = await json(res);
      expect(body).toMatchObject({ error: { code: 'invalid_input' } });
      expect(body.error.details.map((d: { field: string }) => d.field)).toContain('expires_at');
    }
    expect((await db.query('SELECT count(*)::int AS n FROM jobs')).rows[0].n).toBe(before);

    // 0 keeps the data: no expiry to show, kept in PostgreSQL.
    const kept = await json(post('/v1/jobs', { process: false, expires_at: 0 }));
    expect(kept.expires_at).toBeNull();
    const { rows } = await db.query('SELECT keep_data, expires_at FROM jobs WHERE id = $1', [kept.id]);
    expect(rows).toEqual([{ keep_data: true, expires_at: null }]);
  });

  it('deletes a job’s data after its expires_at: 404 everywhere, objects and rows gone, quota freed', async () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 30;
    const created = await post('/v1/jobs', {
      input: [{ type: 'upload' }],
      conversion: [{ target: 'mp3' }],
      expires_at: expiresAt,
    });
    expect(created.status).toBe(201);
    const job = await json(created);
    expect(job.expires_at).toBe(new Date(expiresAt * 1000).toISOString());
    const form = new FormData();
    form.append('file', new Blob([await readFile(wav)]), 'tone.wav');
    expect((await stack.api(`/v1/jobs/${job.id}/upload`, { method: 'POST', body: form })).status).toBe(201);
    const ended = await jobEnded(stack, job.id);
    expect(ended.status.code).toBe('completed');
    expect(ended.expires_at).toBe(new Date(expiresAt * 1000).toISOString());

    // The download URL ends with the data, not KILN_DOWNLOAD_URL_TTL_SECONDS (6 h) later.
    const [output] = await json(stack.api(`/v1/jobs/${job.id}/output`));
    const lifetime = Number(new URL(output.uri).searchParams.get('X-Amz-Expires'));
    expect(lifetime).toBeGreaterThan(0);
    expect(lifetime).toBeLessThanOrEqual(expiresAt - Math.floor(Date.now() / 1000) + 1);
    const served = await fetch(output.uri);
    expect(served.status).toBe(200);
    expect(
      createHash('sha256')
        .update(Buffer.from(await served.arrayBuffer()))
        .digest('hex'),
    ).toBe(output.checksum_sha256);

    // What the job holds: its files in S3 (and a URL to one valid for an hour), its rows, its bytes in the quota.
    const store = objectStoreOf(stack);
    const stored = [
      ...(await keysUnder(store, `inputs/${job.id}/`)),
      ...(await keysUnder(store, `outputs/${job.id}/`)),
    ];
    expect(stored).toHaveLength(2);
    const longUrl = await store.presignGet(stored[1], 3600);
    expect((await fetch(longUrl)).status).toBe(200);
    const rowsBefore = await rowsOf(job.id);
    expect(rowsBefore).toMatchObject({ jobs: 1, inputs: 1, conversions: 1, outputs: 1 });
    const inputSize = (await stat(wav)).size;
    const session = { filename: 'next.bin', size: QUOTA - inputSize + 1 };
    const refused = await post('/v1/uploads', session);
    expect(refused.status).toBe(413);

    // Past expires_at the job is still whole until the task runs (nothing else deletes it).
    await waitFor('expires_at to pass', async () => Date.now() > expiresAt * 1000 + 1000, 60_000);
    expect((await stack.api(`/v1/jobs/${job.id}`)).status).toBe(200);
    await runExpireJobs();

    for (const pathname of [
      `/v1/jobs/${job.id}`,
      `/v1/jobs/${job.id}/output`,
      `/v1/jobs/${job.id}/output/${output.id}/download`,
    ]) {
      const res = await stack.api(pathname, { redirect: 'manual' });
      expect([pathname, res.status]).toEqual([pathname, 404]);
      expect(await json(res)).toMatchObject({ error: { code: 'not_found' } });
    }
    const listed = await json(stack.api('/v1/jobs?limit=100'));
    expect(listed.items.map((j: { id: string }) => j.id)).not.toContain(job.id);
    expect(await keysUnder(store, `inputs/${job.id}/`)).toEqual([]);
    expect(await keysUnder(store, `outputs/${job.id}/`)).toEqual([]);
    expect(Object.values(await rowsOf(job.id))).toEqual([0, 0, 0, 0, 0, 0, 0]);
    // Earlier URLs serve no byte: the API's (past its end) and one signed for an hour (the object is gone).
    expect((await fetch(output.uri)).status).not.toBe(200);
    expect((await fetch(longUrl)).status).toBe(404);

    // The key's stored bytes no longer count the deleted job: the same upload session now fits.
    const accepted = await post('/v1/uploads', session);
    expect(accepted.status).toBe(201);
    const upload = await json(accepted);
    expect((await stack.api(`/v1/uploads/${upload.id}`, { method: 'DELETE' })).status).toBeLessThan(300);
  });
});
