// Attacks from the security review, as regression tests against the running processes:
// - a tenant API key administering the queue board (every route, read and write);
// - slow clients: trickled headers, trickled bodies (unauthenticated and authenticated), stalled uploads,
//   while a slow upload that keeps moving goes through;
// - JSON bodies: size limit and content type (415, nothing stored);
// - guessing credentials: failed authentications are throttled per client address (API and login form);
// - secrets: the web page needs a secret of its own; callbacks signed per key, two secrets during a rotation.
import { createHash, randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Client } from 'pg';
import { appRoutes } from '@bull-board/api/dist/routes';
import { createRedis, type RedisClient } from '../libs/queue/src';
import { verifyCallback } from '../libs/outbound-http/src/callback-signature';
import { CallbackReceiver } from '../test/callback-receiver';
import { closedWithin, rawClient, requestFrom, trickle } from '../test/e2e-helpers/raw-http';
import { Stack, json, waitFor } from '../test/stack';

jest.setTimeout(120_000);

const ADMIN_TOKEN = `adm_${randomBytes(16).toString('hex')}`;
const GLOBAL_NEW = `whsec_new_${randomBytes(12).toString('hex')}`;
const GLOBAL_OLD = `whsec_old_${randomBytes(12).toString('hex')}`;
const KEY_NEW = `whsec_key_new_${randomBytes(12).toString('hex')}`;
const KEY_OLD = `whsec_key_old_${randomBytes(12).toString('hex')}`;
const keyId = (key: string) => createHash('sha256').update(key).digest('hex').slice(0, 12);
// A 1×1 PNG: the smallest job there is.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);

describe('security: a hardened stack', () => {
  const stack = new Stack();
  const receiver = new CallbackReceiver();
  let db: Client;
  let redis: RedisClient;
  let port = 0;

  beforeAll(async () => {
    await receiver.start();
    await stack.start({
      converters: 1,
      env: {
        KILN_ADMIN_TOKEN: ADMIN_TOKEN,
        KILN_HEADERS_TIMEOUT_SECONDS: '2',
        KILN_BODY_TIMEOUT_SECONDS: '2',
        KILN_UPLOAD_IDLE_TIMEOUT_SECONDS: '2',
        KILN_JSON_BODY_LIMIT: '4KiB',
        KILN_AUTH_FAILURES_PER_MINUTE: '5',
        // The page is off: no session secret of its own.
        KILN_WEB_SESSION_SECRET: '',
        KILN_WEBHOOK_SECRET: `${GLOBAL_NEW},${GLOBAL_OLD}`,
        KILN_KEY_WEBHOOK_SECRETS: `${keyId(stack.otherKey)}=${KEY_NEW},${KEY_OLD}`,
      },
    });
    port = Number(new URL(stack.url).port);
    db = new Client({ connectionString: stack.db.url });
    db.on('error', () => undefined);
    await db.connect();
    redis = createRedis(stack.env.REDIS_URL, 'client');
  });

  afterAll(async () => {
    await db?.end();
    redis?.disconnect();
    await stack.stop();
    await receiver.stop();
  });

  const countJobs = async () => Number((await db.query('SELECT COUNT(*)::int AS n FROM jobs')).rows[0].n);

  describe('the queue board is for operators, never for a tenant key', () => {
    const concrete = (route: string) =>
      route
        .replace(':queueName', 'convert')
        .replace(':jobId', '1')
        .replace(':queueStatus', 'failed')
        .replace(':schedulerId', 'x')
        .replace(/:[a-zA-Z]+/g, 'x');
    const paths = (route: string | string[]) => (Array.isArray(route) ? route : [route]);
    const routes = [
      ...paths(appRoutes.entryPoint.route).map((route) => ({ method: 'get', route })),
      ...appRoutes.api.flatMap((r) => paths(r.route).map((route) => ({ method: String(r.method), route }))),
    ].map((r) => ({ method: r.method.toUpperCase(), path: `/admin/queues${concrete(r.route)}` }));

    it('a tenant key gets 403 on every board route, read and write, however it is sent', async () => {
      expect(routes.length).toBeGreaterThan(30);
      const writes = routes.filter((r) => r.method !== 'GET').length;
      expect(writes).toBeGreaterThan(10);
      const credentials: Record<string, string>[] = [
        { 'X-Api-Key': stack.apiKey },
        { Authorization: `Bearer ${stack.otherKey}` },
        { Authorization: `Basic ${Buffer.from(`admin:${stack.apiKey}`).toString('base64')}` },
      ];
      const answers: string[] = [];
      for (const { method, path } of routes) {
        for (const headers of credentials) {
          const res = await fetch(`${stack.url}${path}`, {
            method,
            headers: { ...headers, 'Content-Type': 'application/json' },
            body: method === 'GET' ? undefined : '{}',
          });
          const body = (await res.json().catch(() => null)) as { error?: { code?: string } } | null;
          answers.push(`${method} ${path} ${res.status} ${body?.error?.code}`);
        }
      }
      expect(answers.filter((a) => !/ 403 forbidden$/.test(a))).toEqual([]);
      // Nothing a tenant sent changed a queue.
      const convert = new Queue('convert', { connection: redis, prefix: stack.env.KILN_QUEUE_PREFIX });
      try {
        expect(await convert.isPaused()).toBe(false);
      } finally {
        await convert.close();
      }
    });

    it('no credential or a wrong one is a 401 challenge; the admin token opens the board, read-only', async () => {
      const anon = await fetch(`${stack.url}/admin/queues/api/queues`);
      expect(anon.status).toBe(401);
      expect(anon.headers.get('www-authenticate')).toMatch(/Basic/);
      expect(
        (
          await fetch(`${stack.url}/admin/queues/api/queues`, {
            headers: { Authorization: 'Bearer not-the-admin-token-at-all' },
          })
        ).status,
      ).toBe(401);
      const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
      const page = await fetch(`${stack.url}/admin/queues`, {
        headers: { Authorization: `Basic ${Buffer.from(`ops:${ADMIN_TOKEN}`).toString('base64')}` },
      });
      expect(page.status).toBe(200);
      const queues = await json(fetch(`${stack.url}/admin/queues/api/queues`, { headers: admin }));
      expect(queues.queues.map((q: { name: string }) => q.name).sort()).toEqual([
        'assemble',
        'callback',
        'convert',
        'convert-office',
        'convert-vips',
        'fetch',
        'finalize',
        'maintenance',
      ]);
      expect(queues.queues.every((q: { readOnlyMode: boolean }) => q.readOnlyMode)).toBe(true);
      const pause = await fetch(`${stack.url}/admin/queues/api/queues/convert/pause`, {
        method: 'PUT',
        headers: admin,
      });
      expect(pause.status).toBe(405);
      const add = await fetch(`${stack.url}/admin/queues/api/queues/callback/add`, {
        method: 'POST',
        headers: { ...admin, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'callback', data: {} }),
      });
      expect(add.status).toBe(405);
      const convert = new Queue('convert', { connection: redis, prefix: stack.env.KILN_QUEUE_PREFIX });
      const callback = new Queue('callback', { connection: redis, prefix: stack.env.KILN_QUEUE_PREFIX });
      try {
        expect(await convert.isPaused()).toBe(false);
        expect(await callback.count()).toBe(0);
      } finally {
        await Promise.all([convert.close(), callback.close()]);
      }
    });
  });

  describe('slow clients do not hold connections', () => {
    it('headers trickled byte by byte are cut at the headers deadline', async () => {
      const c = rawClient(port);
      const started = Date.now();
      void trickle(
        c.socket,
        `POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: ${stack.apiKey}\r\nX-Padding: ${'a'.repeat(200)}\r\n`,
        100,
      );
      const at = await closedWithin(c.closed, 8_000, 'trickled headers');
      expect(at - started).toBeGreaterThanOrEqual(1_500);
      expect(c.received()).toMatch(/^HTTP\/1\.1 408/);
    });

    it('an unauthenticated body is never read: 401 at once, and the connection closes', async () => {
      const c = rawClient(port);
      c.socket.write(
        'POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{',
      );
      void trickle(c.socket, '"a":1,'.repeat(1000), 100, 6);
      await closedWithin(c.closed, 5_000, 'an unauthenticated trickle');
      expect(c.received()).toMatch(/^HTTP\/1\.1 401/);
      expect(c.received()).toMatch(/"code":"unauthorized"/);
      expect(c.received()).toMatch(/connection: close/i);
    });

    it('an authenticated JSON body that trickles gets 408 at the body deadline; nothing is stored', async () => {
      const before = await countJobs();
      const c = rawClient(port);
      const started = Date.now();
      c.socket.write(
        `POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: ${stack.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n\r\n`,
      );
      void trickle(c.socket, `{"conversion":[{"target":"mp3"}],"tag":"${'x'.repeat(1900)}"}`, 100, 4);
      const at = await closedWithin(c.closed, 8_000, 'an authenticated trickle');
      expect(at - started).toBeGreaterThanOrEqual(1_500);
      expect(c.received()).toMatch(/^HTTP\/1\.1 408/);
      expect(c.received()).toMatch(/"code":"request_timeout"/);
      expect(await countJobs()).toBe(before);
    });

    it('a slow upload that keeps moving goes through; one that stalls is cut and stores no input', async () => {
      const make = async () =>
        json(
          stack.api('/v1/jobs', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ process: false, conversion: [{ target: 'jpg' }] }),
          }),
        );
      const moving = await make();
      const body = Buffer.concat([PNG, randomBytes(4096)]);
      const c = rawClient(port);
      const started = Date.now();
      c.socket.write(
        `POST /v1/jobs/${moving.id}/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: ${stack.apiKey}\r\nX-File-Name: slow.png\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      // 16 pieces, one every 400 ms: 6 s in all, longer than the body deadline, never idle for 2 s.
      await trickle(c.socket, body, 400, Math.ceil(body.length / 16));
      await waitFor('the upload answer', async () => /\r\n\r\n\{/.test(c.received()), 10_000, 50);
      expect(Date.now() - started).toBeGreaterThan(5_000);
      expect(c.received()).toMatch(/^HTTP\/1\.1 201/);
      c.socket.destroy();

      const stalled = await make();
      const s = rawClient(port);
      s.socket.write(
        `POST /v1/jobs/${stalled.id}/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: ${stack.apiKey}\r\nX-File-Name: stall.png\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      s.socket.write(body.subarray(0, 1000));
      await closedWithin(s.closed, 8_000, 'a stalled upload');
      const { rows } = await db.query<{ status: string }>('SELECT status FROM inputs WHERE job_id = $1', [stalled.id]);
      expect(rows.filter((r) => r.status === 'ready')).toEqual([]);
    });

    it('JSON bodies: over the limit 413, another content type 415, both storing nothing', async () => {
      const before = await countJobs();
      const big = await stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ conversion: [{ target: 'mp3' }], tag: 'x'.repeat(5000) }),
      });
      expect(big.status).toBe(413);
      expect((await json(big)).error.code).toBe('payload_too_large');
      const form = await stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'conversion=mp3',
      });
      expect(form.status).toBe(415);
      expect((await json(form)).error.code).toBe('unsupported_media_type');
      const plain = await stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain' },
        body: '{"conversion":[{"target":"mp3"}]}',
      });
      expect(plain.status).toBe(415);
      expect(await countJobs()).toBe(before);
    });
  });

  describe('guessing credentials', () => {
    // Fixed one-minute windows: start well inside one so the test never straddles two.
    beforeEach(async () => {
      await waitFor('the start of a minute window', async () => Date.now() % 60_000 < 45_000, 20_000, 250);
    });

    it('failed authentications are throttled per client address: 429 with Retry-After, even for a right key', async () => {
      const guesser = '127.0.0.3';
      const bystander = '127.0.0.4';
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++)
        statuses.push(
          (
            await requestFrom(guesser, `${stack.url}/v1/jobs`, {
              headers: { 'X-Api-Key': `kiln_wrong_${i}_0123456789` },
            })
          ).status,
        );
      expect(statuses).toEqual([401, 401, 401, 401, 401]);
      const sixth = await requestFrom(guesser, `${stack.url}/v1/jobs`, {
        headers: { 'X-Api-Key': 'kiln_wrong_6_0123456789' },
      });
      expect(sixth.status).toBe(429);
      expect(JSON.parse(sixth.body).error.code).toBe('rate_limited');
      expect(Number(sixth.headers['retry-after'])).toBeGreaterThan(0);
      // The right key from the same address waits too; X-Forwarded-For does not change the address (trust proxy is off).
      expect(
        (
          await requestFrom(guesser, `${stack.url}/v1/jobs`, {
            headers: { 'X-Api-Key': stack.apiKey, 'X-Forwarded-For': '203.0.113.9' },
          })
        ).status,
      ).toBe(429);
      const upload = `${stack.url}/v1/jobs/00000000-0000-4000-8000-000000000000/upload`;
      expect(
        (
          await requestFrom(guesser, upload, {
            method: 'POST',
            headers: { 'X-Job-Token': 'f'.repeat(32), 'X-File-Name': 'a.png' },
            body: PNG,
          })
        ).status,
      ).toBe(429);
      // Another address is not affected.
      expect(
        (await requestFrom(bystander, `${stack.url}/v1/jobs`, { headers: { 'X-Api-Key': stack.apiKey } })).status,
      ).toBe(200);
      expect(
        (await requestFrom(bystander, `${stack.url}/v1/jobs`, { headers: { 'X-Api-Key': 'kiln_wrong_0123456789' } }))
          .status,
      ).toBe(401);
    });
  });

  describe('secrets', () => {
    it('the web page is off without a session secret of its own', async () => {
      const page = await fetch(`${stack.url}/`);
      expect(page.status).toBe(404);
      expect((await json(page)).error.message).toMatch(/KILN_WEB_SESSION_SECRET/);
      const login = await fetch(`${stack.url}/web/session`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: `api_key=${stack.apiKey}`,
      });
      expect(login.status).toBe(404);
      expect(login.headers.get('set-cookie')).toBeNull();
    });

    it('callbacks are signed with the key’s own secrets, or the global ones, both secrets of a rotation each', async () => {
      const run = async (key: string) => {
        const job = await json(
          stack.api('/v1/jobs', {
            key,
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ conversion: [{ target: 'jpg' }], callback: receiver.url }),
          }),
        );
        expect(
          (
            await stack.api(`/v1/jobs/${job.id}/upload`, {
              key,
              method: 'POST',
              headers: { 'X-File-Name': 'dot.png' },
              body: PNG,
            })
          ).status,
        ).toBe(201);
        const [cb] = await waitFor(
          'the callback',
          async () => (receiver.forJob(job.id).length ? receiver.forJob(job.id) : undefined),
          60_000,
        );
        const signature = String(cb.headers['x-kiln-signature']);
        expect(signature.match(/v1=/g)).toHaveLength(2);
        return (secret: string) => verifyCallback(secret, cb.body, signature);
      };
      const global = await run(stack.apiKey);
      expect([global(GLOBAL_NEW), global(GLOBAL_OLD), global(KEY_NEW), global(KEY_OLD)]).toEqual([
        true,
        true,
        false,
        false,
      ]);
      const own = await run(stack.otherKey);
      expect([own(GLOBAL_NEW), own(GLOBAL_OLD), own(KEY_NEW), own(KEY_OLD)]).toEqual([false, false, true, true]);
    });

    it('no key hash or token reaches the logs', async () => {
      const hashes = [stack.apiKey, stack.otherKey].map((k) => createHash('sha256').update(k).digest('hex'));
      const logs = stack.apps.map((a) => a.output.join('')).join('\n');
      for (const secret of [...hashes, stack.apiKey, stack.otherKey, ADMIN_TOKEN, GLOBAL_NEW, KEY_NEW])
        expect(logs).not.toContain(secret);
    });
  });
});
