// Idempotency-Key across two gateway processes sharing one PostgreSQL (the ledger): concurrent
// duplicates make one job, retries replay the first answer, another body is refused, malformed keys
// store nothing, and keys belong to their API key. Rows are counted in the database itself.
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { Stack, json } from '../test/stack';

jest.setTimeout(120_000);

describe('Idempotency-Key over two gateways', () => {
  const stack = new Stack();
  let pg: Client;

  beforeAll(async () => {
    await stack.start({ gateways: 2, converters: 0 });
    pg = new Client({ connectionString: stack.db.url });
    await pg.connect();
  });

  afterAll(async () => {
    await pg?.end();
    await stack.stop();
  });

  const count = async (sql: string, ...params: unknown[]): Promise<number> =>
    Number((await pg.query<{ n: string }>(`SELECT count(*) AS n FROM ${sql}`, params)).rows[0].n);

  const post = (path: string, body: unknown, key: string | null, init: { base?: string; apiKey?: string } = {}) =>
    stack.api(path, {
      base: init.base,
      key: init.apiKey,
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(key === null ? {} : { 'Idempotency-Key': key }) },
      body: JSON.stringify(body),
    });

  it('concurrent duplicates on both gateways make one job each; retries replay it; another body or path is a 422; another API key has its own', async () => {
    const [g1, g2] = stack.gatewayUrls;
    const PAIRS = 10;
    const keys = Array.from({ length: PAIRS }, () => randomUUID());
    const bodyOf = (i: number) => ({ tag: `idem-${i}`, conversion: [{ target: 'mp3' }] });

    const answers = await Promise.all(
      keys.map(async (key, i) => {
        const both = await Promise.all([
          post('/v1/jobs', bodyOf(i), key, { base: g1 }),
          post('/v1/jobs', bodyOf(i), key, { base: g2 }),
        ]);
        return Promise.all(
          both.map(async (r) => ({ status: r.status, retryAfter: r.headers.get('retry-after'), body: await json(r) })),
        );
      }),
    );

    // Exactly one job per key, and every answer is that job or a 409 conflict with Retry-After.
    expect(await count('jobs')).toBe(PAIRS);
    expect(await count('idempotency_keys WHERE state = $1', 'done')).toBe(PAIRS);
    const firstAnswers: Record<string, unknown>[] = [];
    for (const [i, pair] of answers.entries()) {
      const { rows } = await pg.query<{ id: string }>('SELECT id FROM jobs WHERE tag = $1', [`idem-${i}`]);
      expect(rows).toHaveLength(1);
      const created = pair.filter((a) => a.status === 201);
      expect(created.length).toBeGreaterThanOrEqual(1);
      for (const a of created) expect(a.body).toEqual(created[0].body);
      expect(created[0].body).toMatchObject({ id: rows[0].id, tag: `idem-${i}` });
      for (const a of pair.filter((x) => x.status !== 201)) {
        expect(a.status).toBe(409);
        expect(a.retryAfter).toBe('1');
        expect(a.body.error).toMatchObject({ code: 'conflict', details: [{ field: 'Idempotency-Key' }] });
      }
      firstAnswers.push(created[0].body);
    }

    // A later retry, on either gateway, answers the first body again, marked as a replay.
    for (const [i, key] of keys.entries()) {
      const again = await post('/v1/jobs', bodyOf(i), key, { base: i % 2 ? g1 : g2 });
      expect(again.status).toBe(201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(await json(again)).toEqual(firstAnswers[i]);
    }
    // The body's key order and spacing do not matter: the same JSON is the same request.
    const reordered = await stack.api('/v1/jobs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': keys[0] },
      body: '{ "conversion": [ { "target": "mp3" } ],  "tag": "idem-0" }',
    });
    expect(reordered.status).toBe(201);
    expect(await json(reordered)).toEqual(firstAnswers[0]);

    // Another body, or the same body on another path, under a used key: 422, and nothing is created.
    const mismatch = await post('/v1/jobs', { ...bodyOf(0), tag: 'changed' }, keys[0], { base: g2 });
    expect(mismatch.status).toBe(422);
    expect((await json(mismatch)).error).toMatchObject({
      code: 'idempotency_mismatch',
      details: [{ field: 'Idempotency-Key' }],
    });
    const otherPath = await post('/v1/uploads', { filename: 'a.wav', size: 10 }, keys[1]);
    expect(otherPath.status).toBe(422);
    expect((await json(otherPath)).error.code).toBe('idempotency_mismatch');
    expect(await count('jobs')).toBe(PAIRS);
    expect(await count('uploads')).toBe(0);
    expect(await count('jobs WHERE tag = $1', 'changed')).toBe(0);

    // Keys belong to their API key: the other key's same Idempotency-Key and body makes its own job.
    const theirs = await post('/v1/jobs', bodyOf(0), keys[0], { apiKey: stack.otherKey });
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    const theirJob = await json(theirs);
    expect(theirJob.id).not.toBe(firstAnswers[0].id);
    expect(await count('jobs WHERE tag = $1', 'idem-0')).toBe(2);
    expect(await count('idempotency_keys WHERE key = $1', keys[0])).toBe(2);
  });

  it('conversions, inputs, upload sessions (also by job token) and tus creations replay without a second row; a 400 is replayed too', async () => {
    const job = await json(post('/v1/jobs', { tag: 'units' }, null));
    const rows = async () => ({
      conversions: await count('conversions WHERE job_id = $1', job.id),
      inputs: await count('inputs WHERE job_id = $1', job.id),
      uploads: await count('uploads'),
      jobs: await count('jobs'),
    });
    const before = await rows();

    const twice = async (path: string, body: unknown, init: RequestInit & { key?: string | null } = {}) => {
      const key = randomUUID();
      const send = (base: string) =>
        stack.api(path, {
          ...init,
          base,
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key, ...init.headers },
          body: JSON.stringify(body),
        });
      const first = await send(stack.gatewayUrls[0]);
      const second = await send(stack.gatewayUrls[1]);
      expect(first.headers.get('idempotent-replayed')).toBeNull();
      expect(second.headers.get('idempotent-replayed')).toBe('true');
      expect(second.status).toBe(first.status);
      const [a, b] = [await json(first), await json(second)];
      if (first.status >= 400) {
        // An error is replayed as it was, but under the replay's own request id (the one in its logs).
        expect(b.error.request_id).toBe(second.headers.get('x-request-id'));
        expect({ error: { ...b.error, request_id: a.error.request_id } }).toEqual(a);
      } else expect(b).toEqual(a);
      return { status: first.status, body: a };
    };

    const conversion = await twice(`/v1/jobs/${job.id}/conversions`, { target: 'mp3' });
    expect(conversion.status).toBe(201);
    const input = await twice(`/v1/jobs/${job.id}/input`, { type: 'upload', filename: 'a.wav', size: 10 });
    expect(input.status).toBe(201);
    const upload = await twice('/v1/uploads', { filename: 'b.wav', size: 20 });
    expect(upload.status).toBe(201);
    // A job token's requests are keyed like its owner's: the session for the job is made once.
    const byToken = await twice(
      '/v1/uploads',
      { filename: 'c.wav', size: 30, job_id: job.id },
      { key: null, headers: { 'X-Job-Token': job.token } },
    );
    expect(byToken.status).toBe(201);
    // A tus creation (all headers, no bytes): the same Location, and tus's own headers on the replay.
    const tusKey = randomUUID();
    const tusCreate = (base: string, length = '40') =>
      stack.api('/v1/tus', {
        base,
        method: 'POST',
        headers: {
          'Tus-Resumable': '1.0.0',
          'Upload-Length': length,
          'Upload-Metadata': `filename ${Buffer.from('d.wav').toString('base64')}`,
          'Idempotency-Key': tusKey,
        },
      });
    const tusFirst = await tusCreate(stack.gatewayUrls[0]);
    const tusAgain = await tusCreate(stack.gatewayUrls[1]);
    expect([tusFirst.status, tusAgain.status]).toEqual([201, 201]);
    expect(tusFirst.headers.get('location')).toMatch(/\/v1\/tus\/[0-9a-f-]{36}$/);
    expect(tusAgain.headers.get('location')).toBe(tusFirst.headers.get('location'));
    expect(tusAgain.headers.get('upload-expires')).toBe(tusFirst.headers.get('upload-expires'));
    expect(tusAgain.headers.get('tus-resumable')).toBe('1.0.0');
    expect(tusAgain.headers.get('idempotent-replayed')).toBe('true');
    const tusOther = await tusCreate(stack.gatewayUrls[1], '41');
    expect(tusOther.status).toBe(422);
    expect((await json(tusOther)).error.code).toBe('idempotency_mismatch');
    expect(tusOther.headers.get('tus-resumable')).toBe('1.0.0');

    // A refused body (400) is stored and replayed as it was; nothing is created by either request.
    const refused = await twice('/v1/jobs', { conversion: [{ target: 'nope' }] });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'invalid_input' });

    expect(await rows()).toEqual({
      conversions: before.conversions + 1,
      inputs: before.inputs + 1, // the job's upload session took the pending input, made no other
      uploads: before.uploads + 3, // two sessions and one tus upload
      jobs: before.jobs,
    });
    expect(conversion.body.id).toEqual(expect.any(String));
    expect(input.body.id).toEqual(expect.any(String));
    expect(upload.body.id).not.toBe(byToken.body.id);
  });

  it('malformed keys are a 400 naming the header, and nothing is stored', async () => {
    const jobs = await count('jobs');
    const keys = await count('idempotency_keys');
    for (const bad of ['', 'k'.repeat(256), 'tab\there', 'caf\u00e9']) {
      const res = await stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': bad },
        body: JSON.stringify({ tag: 'malformed' }),
      });
      expect(res.status).toBe(400);
      expect((await json(res)).error).toMatchObject({
        code: 'invalid_input',
        message: expect.stringContaining('Idempotency-Key'),
        details: [{ field: 'Idempotency-Key' }],
      });
    }
    expect(await count('jobs')).toBe(jobs);
    expect(await count('idempotency_keys')).toBe(keys);
    expect(await count('jobs WHERE tag = $1', 'malformed')).toBe(0);
  });
});
