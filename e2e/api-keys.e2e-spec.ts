// Managed API keys end to end: two gateway processes on one PostgreSQL and Redis, the real kiln CLI
// (node dist/apps/cli/src/main.js) making the first admin key with --database, scopes refused with
// 403 and nothing stored, revocation heard by the other gateway within seconds, and no clear key in
// the table or in any log.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { Stack, json, waitFor } from '../test/stack';

jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist/apps/cli/src/main.js');
const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');
const KEY_FORMAT = /^kiln_[A-Za-z0-9_-]{43}$/;

describe('managed API keys (two gateways, the real CLI)', () => {
  const stack = new Stack();
  let db: Client;
  let home: string;
  const clearKeys: string[] = [];

  beforeAll(async () => {
    home = await mkdtemp(path.join(tmpdir(), 'kiln-keys-'));
    // A key stays in a gateway's memory for a minute here: a revocation seen within seconds was heard on Redis.
    await stack.start({ gateways: 2, converters: 0, assemblers: 0, env: { KILN_API_KEY_CACHE_MS: '60000' } });
    db = new Client({ connectionString: stack.db.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await stack.stop();
    await rm(home, { recursive: true, force: true });
  });

  const [gw1, gw2] = [0, 1].map((i) => () => stack.gatewayUrls[i]);

  async function count(sql: string, ...params: unknown[]): Promise<number> {
    return Number((await db.query(sql, params)).rows[0].n);
  }
  const keyRows = () => count('SELECT count(*) AS n FROM api_keys');

  function kiln(args: string[], env: Record<string, string> = {}) {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: home, KILN_URL: gw1(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      child.on('close', (code) => resolve({ code, stdout, stderr })),
    );
  }
  const kilnDb = (args: string[]) =>
    kiln([...args, '--database'], {
      DATABASE_URL: stack.db.url,
      REDIS_URL: stack.env.REDIS_URL,
      KILN_QUEUE_PREFIX: stack.env.KILN_QUEUE_PREFIX,
    });

  function call(
    base: string,
    method: string,
    pathname: string,
    key: string | null,
    body?: unknown,
    header = 'X-Api-Key',
  ) {
    return fetch(`${base}${pathname}`, {
      method,
      headers: {
        ...(key !== null ? { [header]: key } : {}),
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  let adminKey = '';
  let adminId = '';

  async function createKey(body: unknown, base = gw1()): Promise<{ id: string; key: string }> {
    const res = await call(base, 'POST', '/v1/keys', adminKey, body);
    expect(res.status).toBe(201);
    const created = await json(res);
    clearKeys.push(created.key);
    return created;
  }

  it('kiln keys create --database makes the first admin key: shown once, stored as its hash only', async () => {
    expect(await keyRows()).toBe(0);
    const refused = await kilnDb(['keys', 'create', '--name', 'ops']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('Invalid body: scopes: give at least one scope');
    const unknown = await kilnDb(['keys', 'create', '--name', 'ops', '--scope', 'root']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      'Invalid body: scopes.0: must be one of jobs:read, jobs:write, uploads:write, admin',
    );
    expect(await keyRows()).toBe(0);

    const made = await kilnDb(['keys', 'create', '--name', 'ops', '--scope', 'admin', '--json']);
    expect(made).toMatchObject({ code: 0, stderr: '' });
    const created = JSON.parse(made.stdout);
    expect(created).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'ops',
      scopes: ['admin'],
      limits: null,
      created_at: expect.any(String),
      last_used_at: null,
      revoked_at: null,
      key: expect.stringMatching(KEY_FORMAT),
    });
    adminKey = created.key;
    adminId = created.id;
    clearKeys.push(adminKey);

    // The table holds the hash, never the key.
    const rows = (await db.query('SELECT key_hash, row_to_json(k)::text AS text FROM api_keys k')).rows;
    expect(rows).toHaveLength(1);
    expect(rows[0].key_hash).toBe(hashKey(adminKey));
    expect(rows[0].text).not.toContain(adminKey);
    expect(rows[0].text).not.toContain(adminKey.slice(5));

    // The key works at once on either gateway; listing shows neither key nor hash.
    for (const base of [gw1(), gw2()]) {
      const list = await call(base, 'GET', '/v1/keys', adminKey);
      expect(list.status).toBe(200);
      const text = await list.text();
      expect(JSON.parse(text).items).toEqual([{ ...created, key: undefined, last_used_at: expect.anything() }]);
      expect(text).not.toContain(adminKey);
      expect(text).not.toContain(hashKey(adminKey));
    }
    // Use is recorded (at most once a minute).
    const used = await waitFor(
      'last_used_at',
      async () => (await db.query('SELECT last_used_at FROM api_keys WHERE id = $1', [adminId])).rows[0].last_used_at,
    );
    expect(Date.now() - new Date(used).getTime()).toBeLessThan(30_000);

    // Listing by the CLI, in the database and over the API with the admin key.
    const listed = await kilnDb(['keys', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${adminId}\\s+ops\\s+admin\\s`, 'm'));
    expect(listed.stdout).not.toContain(adminKey);
    const overApi = await kiln(['keys', 'list', '--json', '--api-key', adminKey]);
    expect(overApi.code).toBe(0);
    expect(JSON.parse(overApi.stdout).items.map((k: { id: string }) => k.id)).toEqual([adminId]);
  });

  it('admin creates keys over HTTP; bad input is 400 naming the field and stores nothing; other keys get 403', async () => {
    const before = await keyRows();
    const bad: [unknown, string, string][] = [
      [{ name: '', scopes: ['jobs:read'] }, 'name', 'must not be empty'],
      [{ name: '   ', scopes: ['jobs:read'] }, 'name', 'must not be empty'],
      [
        { name: 'x', scopes: ['jobs:read', 'jobs:delete'] },
        'scopes.1',
        'must be one of jobs:read, jobs:write, uploads:write, admin',
      ],
      [{ name: 'x', scopes: [] }, 'scopes', 'give at least one scope'],
      [
        { name: 'x', scopes: ['jobs:read'], limits: { rate_per_minute: -1 } },
        'limits.rate_per_minute',
        'must be 0 (no limit) or more',
      ],
      [{ name: 'x', scopes: ['jobs:read'], limits: { burst: 3 } }, 'limits.burst', 'unknown field'],
    ];
    for (const [body, field, message] of bad) {
      const res = await call(gw2(), 'POST', '/v1/keys', adminKey, body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      const answer = await json(res);
      expect(answer.error).toMatchObject({ code: 'invalid_input', message: `Invalid body: ${field}: ${message}` });
      expect(answer.error.details[0]).toEqual({ field, message });
    }
    // Neither the bootstrap key (every scope but admin) nor a managed key without admin manages keys.
    const reader = await createKey({ name: 'reader', scopes: ['jobs:read'] });
    for (const key of [stack.apiKey, reader.key]) {
      const res = await call(gw1(), 'POST', '/v1/keys', key, { name: 'sneaky', scopes: ['admin'] });
      expect(res.status).toBe(403);
      const answer = await json(res);
      expect(answer.error.code).toBe('forbidden');
      expect(answer.error.message).toMatch(/^This API key lacks the scope "admin" needed for POST \/v1\/keys/);
      expect((await call(gw1(), 'GET', '/v1/keys', key)).status).toBe(403);
    }
    expect(await keyRows()).toBe(before + 1);
    expect(await count("SELECT count(*) AS n FROM api_keys WHERE name = 'sneaky'")).toBe(0);
  });

  it('enforces scopes: 403 naming the missing scope and no row; X-Oc-Api-Key; jobs owned by the key hash; bootstrap keys work', async () => {
    const reader = await createKey({ name: 'ci-reader', scopes: ['jobs:read'] });
    const writer = await createKey({ name: 'ci-writer', scopes: ['jobs:read', 'jobs:write'] });
    expect(reader.key).toMatch(KEY_FORMAT);
    const jobs = () => count('SELECT count(*) AS n FROM jobs');
    const uploads = () => count('SELECT count(*) AS n FROM uploads');
    const jobBody = { process: false, conversion: [{ target: 'jpg' }] };

    // A write by a read-only key (both headers), and an upload by a key without uploads:write.
    for (const header of ['X-Api-Key', 'X-Oc-Api-Key']) {
      const res = await call(gw2(), 'POST', '/v1/jobs', reader.key, jobBody, header);
      expect(res.status).toBe(403);
      expect((await json(res)).error).toEqual({
        code: 'forbidden',
        message: 'This API key lacks the scope "jobs:write" needed for POST /v1/jobs (it has: jobs:read).',
        details: [{ field: 'scope', message: 'missing scope jobs:write', scope: 'jobs:write' }],
        request_id: expect.any(String),
      });
    }
    const upload = await call(gw1(), 'POST', '/v1/uploads', writer.key, { filename: 'a.bin', size: 10 });
    expect(upload.status).toBe(403);
    expect((await json(upload)).error.message).toContain('"uploads:write"');
    expect(await jobs()).toBe(0);
    expect(await uploads()).toBe(0);

    // The writer's job is owned by its key's hash, and only it sees it.
    const created = await call(gw1(), 'POST', '/v1/jobs', writer.key, jobBody, 'X-Oc-Api-Key');
    expect(created.status).toBe(201);
    const job = await json(created);
    expect((await db.query('SELECT owner_key_hash FROM jobs')).rows).toEqual([{ owner_key_hash: hashKey(writer.key) }]);
    const mine = await json(call(gw2(), 'GET', '/v1/jobs', writer.key, undefined, 'X-Oc-Api-Key'));
    expect(mine.items.map((j: { id: string }) => j.id)).toEqual([job.id]);
    const readers = await call(gw2(), 'GET', '/v1/jobs', reader.key, undefined, 'X-Oc-Api-Key');
    expect(readers.status).toBe(200);
    expect((await json(readers)).items).toEqual([]);

    // KILN_API_KEYS still work, with every scope but admin (uploads too).
    const boot = await call(gw2(), 'POST', '/v1/uploads', stack.apiKey, { filename: 'a.bin', size: 10 });
    expect(boot.status).toBe(201);
    expect(await count('SELECT count(*) AS n FROM uploads WHERE owner_key_hash = $1', hashKey(stack.apiKey))).toBe(1);
  });

  it("applies a key's own request rate over the server's (off here)", async () => {
    const limited = await createKey({ name: 'limited', scopes: ['jobs:read'], limits: { rate_per_minute: 2 } });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await call(i % 2 ? gw2() : gw1(), 'GET', '/v1/jobs', limited.key)).status);
    expect(statuses).toEqual([200, 200, 429]);
    // Another key is not limited by it.
    for (let i = 0; i < 3; i++) expect((await call(gw1(), 'GET', '/v1/jobs', stack.apiKey)).status).toBe(200);
    expect((await db.query("SELECT limits FROM api_keys WHERE name = 'limited'")).rows[0].limits).toEqual({
      rate_per_minute: 2,
    });
  });

  it("applies a key's own jobs in flight, open uploads, storage quota and event streams, to it and its job tokens", async () => {
    const all = ['jobs:read', 'jobs:write', 'uploads:write'];
    const jobsKey = await createKey({
      name: 'one-job',
      scopes: all,
      limits: { max_jobs_in_flight: 1, max_event_streams: 1 },
    });
    // This one from the command line, over the API with the admin key.
    const bad = await kiln([
      'keys',
      'create',
      '--name',
      'x',
      '--scope',
      'jobs:read',
      '--limit',
      'max_open_uploads',
      '--api-key',
      adminKey,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--limit max_open_uploads: give <name>=<whole number>');
    const made = await kiln([
      'keys',
      'create',
      '--name',
      'one-upload',
      '--api-key',
      adminKey,
      '--json',
      ...all.flatMap((scope) => ['--scope', scope]),
      '--limit',
      'max_open_uploads=1',
    ]);
    expect(made).toMatchObject({ code: 0, stderr: '' });
    const uploadsKey = JSON.parse(made.stdout) as { id: string; key: string; limits: unknown };
    expect(uploadsKey.limits).toEqual({ max_open_uploads: 1 });
    clearKeys.push(uploadsKey.key);
    const bytesKey = await createKey({ name: 'kilobyte', scopes: all, limits: { storage_quota_bytes: 1000 } });
    const owned = (key: string) => count('SELECT count(*) AS n FROM jobs WHERE owner_key_hash = $1', hashKey(key));
    const uploads = (key: string) => count('SELECT count(*) AS n FROM uploads WHERE owner_key_hash = $1', hashKey(key));

    // Jobs in flight: one, on either gateway; the second is 429 and no row.
    const first = await call(gw1(), 'POST', '/v1/jobs', jobsKey.key, { process: false });
    expect(first.status).toBe(201);
    const job = await json(first);
    const second = await call(gw2(), 'POST', '/v1/jobs', jobsKey.key, { process: false });
    expect(second.status).toBe(429);
    expect((await json(second)).error.message).toMatch(/1 jobs in flight \(limit 1\)/);
    expect(await owned(jobsKey.key)).toBe(1);
    // The server's own limits still hold for other keys: the bootstrap key makes two.
    for (let i = 0; i < 2; i++)
      expect((await call(gw2(), 'POST', '/v1/jobs', stack.apiKey, { process: false })).status).toBe(201);

    // Event streams: one open (by the key's job token too), the second is 429.
    const open = new AbortController();
    const stream = await fetch(`${gw1()}/v1/jobs/${job.id}/events`, {
      headers: { 'X-Job-Token': job.token },
      signal: open.signal,
    });
    expect(stream.status).toBe(200);
    try {
      const more = await call(gw2(), 'GET', `/v1/jobs/${job.id}/events`, jobsKey.key);
      expect(more.status).toBe(429);
      expect((await json(more)).error.message).toMatch(/1 event streams open \(limit 1\)/);
    } finally {
      open.abort();
    }

    // Open uploads: one session; the second is 429 and no row.
    expect((await call(gw1(), 'POST', '/v1/uploads', uploadsKey.key, { filename: 'a.wav', size: 100 })).status).toBe(
      201,
    );
    const refusedUpload = await call(gw2(), 'POST', '/v1/uploads', uploadsKey.key, { filename: 'b.wav', size: 100 });
    expect(refusedUpload.status).toBe(429);
    expect(await uploads(uploadsKey.key)).toBe(1);

    // Storage quota: 1000 bytes; 600 fit, 600 more do not (413 naming size), and nothing is stored.
    expect((await call(gw1(), 'POST', '/v1/uploads', bytesKey.key, { filename: 'a.wav', size: 600 })).status).toBe(201);
    const over = await call(gw2(), 'POST', '/v1/uploads', bytesKey.key, { filename: 'b.wav', size: 600 });
    expect(over.status).toBe(413);
    expect((await json(over)).error).toMatchObject({
      code: 'payload_too_large',
      details: [{ field: 'size', quota: 1000 }],
    });
    expect(await uploads(bytesKey.key)).toBe(1);
    expect((await call(gw2(), 'POST', '/v1/uploads', stack.apiKey, { filename: 'c.wav', size: 600 })).status).toBe(201);
  });

  it('a revoked key is refused by the other gateway within seconds (over HTTP, the CLI, and the CLI on the database)', async () => {
    const viaHttp = await createKey({ name: 'to-revoke-http', scopes: ['jobs:read'] });
    const viaCli = await createKey({ name: 'to-revoke-cli', scopes: ['jobs:read'] });
    const viaDb = await createKey({ name: 'to-revoke-db', scopes: ['jobs:read'] });
    // gateway-2 knows (and caches) every one of them.
    for (const k of [viaHttp, viaCli, viaDb]) expect((await call(gw2(), 'GET', '/v1/jobs', k.key)).status).toBe(200);

    // Within seconds, while gateway-2 would still answer from its one-minute cache: it heard the revocation.
    const refusedOnGw2 = async (key: string, revoke: () => Promise<void>) => {
      await revoke();
      await waitFor(
        'the other gateway to refuse the revoked key',
        async () => (await call(gw2(), 'GET', '/v1/jobs', key)).status === 401,
        10_000,
        50,
      );
    };

    await refusedOnGw2(viaHttp.key, async () => {
      const res = await call(gw1(), 'DELETE', `/v1/keys/${viaHttp.id}`, adminKey);
      expect(res.status).toBe(200);
      expect(await json(res)).toMatchObject({ id: viaHttp.id, name: 'to-revoke-http', revoked_at: expect.any(String) });
    });
    await refusedOnGw2(viaCli.key, async () => {
      const run = await kiln(['keys', 'revoke', viaCli.id, '--api-key', adminKey]);
      expect(run).toMatchObject({ code: 0, stdout: `revoked API key ${viaCli.id} "to-revoke-cli"\n` });
    });
    await refusedOnGw2(viaDb.key, async () => {
      const run = await kilnDb(['keys', 'revoke', viaDb.id]);
      expect(run).toMatchObject({ code: 0, stdout: `revoked API key ${viaDb.id} "to-revoke-db"\n` });
    });
    for (const k of [viaHttp, viaCli, viaDb]) {
      const res = await call(gw1(), 'GET', '/v1/jobs', k.key);
      expect(res.status).toBe(401);
      expect((await json(res)).error.message).toBe('The API key is not valid.');
    }
    expect(
      await count(
        "SELECT count(*) AS n FROM api_keys WHERE name LIKE 'to-revoke-%' AND revoked_at IS NOT NULL AND revoked_at > now() - interval '1 minute'",
      ),
    ).toBe(3);
    // Revoking again changes nothing; an unknown id is 404.
    const again = await json(call(gw2(), 'DELETE', `/v1/keys/${viaHttp.id}`, adminKey));
    const first = (await db.query('SELECT revoked_at FROM api_keys WHERE id = $1', [viaHttp.id])).rows[0].revoked_at;
    expect(again.revoked_at).toBe(first.toISOString());
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const res = await call(gw2(), 'DELETE', `/v1/keys/${id}`, adminKey);
      expect(res.status).toBe(404);
      expect((await json(res)).error).toMatchObject({ code: 'not_found', message: 'No such API key.' });
    }
  });

  it("a managed key with the page's scopes logs in to the web page; its session ends on every gateway when the key is revoked", async () => {
    const login = async (base: string, key: string) => {
      const res = await fetch(`${base}/web/session`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ api_key: key }).toString(),
        redirect: 'manual',
      });
      return {
        location: res.headers.get('location'),
        token: /^kiln_session=([^;]+);/.exec(res.headers.get('set-cookie') ?? '')?.[1],
      };
    };
    const page = (base: string, token: string) =>
      fetch(`${base}/web/jobs`, { headers: { Cookie: `kiln_session=${token}` }, redirect: 'manual' });

    const readOnly = await createKey({ name: 'web-read-only', scopes: ['jobs:read'] });
    expect(await login(gw1(), readOnly.key)).toEqual({ location: '/?login=failed', token: undefined });

    const full = await createKey({ name: 'web-full', scopes: ['jobs:read', 'jobs:write', 'uploads:write'] });
    const session = await login(gw1(), full.key);
    expect(session.location).toBe('/');
    expect(session.token).toEqual(expect.any(String));
    // The session works on the other gateway too, and sees the key's own jobs only.
    const made = await json(call(gw1(), 'POST', '/v1/jobs', full.key, { process: false }));
    const listed = await page(gw2(), session.token!);
    expect(listed.status).toBe(200);
    expect((await json(listed)).items.map((j: { id: string }) => j.id)).toEqual([made.id]);

    const upload = (base: string) =>
      fetch(`${base}/v1/jobs/${made.id}/upload`, {
        method: 'POST',
        headers: { 'X-Job-Token': made.token, 'X-File-Name': 'a.wav', 'Content-Type': 'application/octet-stream' },
        body: 'x',
      });
    expect((await upload(gw2())).status).toBe(201); // the job token works while its key does

    expect((await call(gw1(), 'DELETE', `/v1/keys/${full.id}`, adminKey)).status).toBe(200);
    await waitFor(
      "the revoked key's web session to be refused on the other gateway",
      async () => (await page(gw2(), session.token!)).status === 401,
      10_000,
      50,
    );
    const refused = await page(gw1(), session.token!);
    expect(refused.status).toBe(401);
    expect((await json(refused)).error.message).toMatch(/revoked/);
    expect(await login(gw2(), full.key)).toEqual({ location: '/?login=failed', token: undefined });
    // The key's job tokens end with it, and the refused upload stores nothing.
    const inputsBefore = await count('SELECT count(*) AS n FROM inputs WHERE job_id = $1', made.id);
    const tokenRefused = await upload(gw2());
    expect(tokenRefused.status).toBe(401);
    expect((await json(tokenRefused)).error.message).toMatch(/was revoked/);
    expect(await count('SELECT count(*) AS n FROM inputs WHERE job_id = $1', made.id)).toBe(inputsBefore);
  });

  it('an admin key opens the queue board, another key does not; no clear key is ever logged', async () => {
    const reader = await createKey({ name: 'board-reader', scopes: ['jobs:read', 'jobs:write', 'uploads:write'] });
    const page = await fetch(`${gw2()}/admin/queues/api/queues`, { headers: { Authorization: `Bearer ${adminKey}` } });
    expect(page.status).toBe(200);
    expect((await json(page)).queues.length).toBeGreaterThan(0);
    const refused = await fetch(`${gw2()}/admin/queues/api/queues`, { headers: { 'X-Api-Key': reader.key } });
    expect(refused.status).toBe(403);

    const logs = stack.apps.map((a) => a.output.join('')).join('\n');
    expect(logs).toMatch(/"url":"\/v1\/keys"/); // the gateways did log these requests
    expect(clearKeys.length).toBeGreaterThan(8);
    for (const key of clearKeys) {
      expect(logs).not.toContain(key);
      expect(logs).not.toContain(key.slice(5));
    }
  });
});
