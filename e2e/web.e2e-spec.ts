// The web page served by the gateway at `/`: plain HTTP checks of the login page and the session
// cookie (HttpOnly, never the key, CSRF header, narrow reach, tampering, expiry, logout, throttled
// wrong keys). Real gateway, assembler and converter processes, PostgreSQL, Redis, S3 (radosgw) and
// ffmpeg. The headless Chromium runs are in web-browser.e2e-spec.ts.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { newSessionId, signWebSession } from '../apps/api-gateway/src/auth/web-session-token';
import { SESSION_SECRET, useWebStack, withCookie } from '../test/e2e-helpers/web';
import { json, waitFor } from '../test/stack';

jest.setTimeout(120_000);

describe('web page at / (headless Chromium, real processes)', () => {
  const w = useWebStack();
  const { stack, login } = w;

  const createBody = { input: [{ type: 'upload', filename: 'a.wav', size: 1000 }], conversion: [{ target: 'mp3' }] };

  it('serves the login page with a CSP, sets an HttpOnly SameSite=Strict cookie and never echoes the key', async () => {
    const loginPage = await fetch(`${stack.url}/`);
    expect(loginPage.status).toBe(200);
    expect(loginPage.headers.get('content-type')).toMatch(/^text\/html/);
    expect(loginPage.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    expect(loginPage.headers.get('x-frame-options')).toBe('DENY');
    const html = await loginPage.text();
    expect(html).toContain('name="api_key"');
    expect(html).toContain('action="/web/session"');
    expect(html).not.toContain('<script');

    const wrong = await login(`kiln_wrong_${randomBytes(12).toString('hex')}`);
    expect(wrong.res.status).toBe(303);
    expect(wrong.res.headers.get('location')).toBe('/?login=failed');
    expect(wrong.setCookie).toBe('');
    await expect((await fetch(`${stack.url}/?login=failed`)).text()).resolves.toContain('That API key is not valid.');

    const ok = await login(stack.apiKey);
    expect(ok.res.status).toBe(303);
    expect(ok.res.headers.get('location')).toBe('/');
    expect(ok.setCookie).toMatch(
      /^kiln_session=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/,
    );
    const answer = `${ok.text} ${JSON.stringify([...ok.res.headers])}`;
    expect(answer).not.toContain(stack.apiKey);
    expect(ok.text).toBe('');

    // The signed-in page and what it can learn about the session: a fingerprint of the key's hash only.
    const app = await fetch(`${stack.url}/`, withCookie(ok.token!));
    expect(app.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    const appHtml = await app.text();
    expect(appHtml).toContain('<script type="module" src="/web/static/app.js"></script>');
    expect(appHtml).not.toContain(stack.apiKey);
    const session = await json(fetch(`${stack.url}/web/session`, withCookie(ok.token!)));
    expect(session.key_fingerprint).toBe(createHash('sha256').update(stack.apiKey).digest('hex').slice(0, 8));
    expect(JSON.stringify(session)).not.toContain(stack.apiKey);

    const script = await fetch(`${stack.url}/web/static/app.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await fetch(`${stack.url}/web/static/login.html`)).status).toBe(404);
    expect((await fetch(`${stack.url}/web/static/..%2Fweb.controller.js`)).status).toBe(404);

    // Only forms: no JSON logins, no logins posted from another site.
    const asJson = await fetch(`${stack.url}/web/session`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ api_key: stack.apiKey }),
    });
    expect(asJson.status).toBe(415);
    expect(JSON.stringify(await json(asJson))).not.toContain(stack.apiKey);
    const crossSite = await login(stack.apiKey, { 'Sec-Fetch-Site': 'cross-site' });
    expect(crossSite.res.status).toBe(403);
    expect(crossSite.token).toBeUndefined();
  });

  it('lets the cookie reach only the page routes, and changes only with X-Kiln-Web: 1', async () => {
    const { token } = await login(stack.apiKey);
    const cookie = token!;

    const noHeader = await fetch(
      `${stack.url}/web/jobs`,
      withCookie(cookie, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(createBody),
      }),
    );
    expect(noHeader.status).toBe(403);
    expect((await json(noHeader)).error.code).toBe('forbidden');

    const created = await fetch(
      `${stack.url}/web/jobs`,
      withCookie(cookie, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Kiln-Web': '1' },
        body: JSON.stringify(createBody),
      }),
    );
    expect(created.status).toBe(201);
    const job = await json(created);
    expect(job.token).toMatch(/^[0-9a-f]{32}$/);
    // Owned by the key that logged in: visible with that key, not with the other one.
    expect((await stack.api(`/v1/jobs/${job.id}`)).status).toBe(200);
    expect((await stack.api(`/v1/jobs/${job.id}`, { key: stack.otherKey })).status).toBe(404);
    const listed = await json(fetch(`${stack.url}/web/jobs?limit=5`, withCookie(cookie)));
    expect(listed.items.map((j: { id: string }) => j.id)).toContain(job.id);

    // What the page cannot ask for: remote inputs, callbacks.
    for (const body of [
      { ...createBody, callback: 'http://127.0.0.1:9/hook' },
      { input: [{ type: 'remote', source: 'http://127.0.0.1:9/a.wav' }], conversion: [{ target: 'mp3' }] },
    ]) {
      const refused = await fetch(
        `${stack.url}/web/jobs`,
        withCookie(cookie, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-Kiln-Web': '1' },
          body: JSON.stringify(body),
        }),
      );
      expect(refused.status).toBe(400);
    }

    // Nothing beyond the page: not the API, not the queue board, not another key's jobs.
    expect((await fetch(`${stack.url}/admin/queues`, withCookie(cookie))).status).toBe(401);
    expect((await fetch(`${stack.url}/admin/queues/api/queues`, withCookie(cookie))).status).toBe(401);
    expect((await fetch(`${stack.url}/v1/jobs`, withCookie(cookie))).status).toBe(401);
    expect(
      (await fetch(`${stack.url}/v1/jobs/${job.id}`, withCookie(cookie, { headers: { 'X-Kiln-Web': '1' } }))).status,
    ).toBe(401);
    expect(
      (
        await fetch(
          `${stack.url}/v1/jobs`,
          withCookie(cookie, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', 'X-Kiln-Web': '1' },
            body: JSON.stringify(createBody),
          }),
        )
      ).status,
    ).toBe(401);
    expect(
      (
        await fetch(
          `${stack.url}/v1/uploads`,
          withCookie(cookie, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', 'X-Kiln-Web': '1' },
            body: JSON.stringify({ filename: 'a', size: 1 }),
          }),
        )
      ).status,
    ).toBe(401);
    const other = (await login(stack.otherKey)).token!;
    expect((await fetch(`${stack.url}/web/jobs/${job.id}`, withCookie(other))).status).toBe(404);

    // Cancel needs the header too.
    expect((await fetch(`${stack.url}/web/jobs/${job.id}`, withCookie(cookie, { method: 'DELETE' }))).status).toBe(403);
    const canceled = await fetch(
      `${stack.url}/web/jobs/${job.id}`,
      withCookie(cookie, { method: 'DELETE', headers: { 'X-Kiln-Web': '1' } }),
    );
    expect(canceled.status).toBe(200);
    expect((await json(canceled)).status.code).toBe('canceled');
  });

  it('refuses tampered, expired and logged-out cookies with 401', async () => {
    const owner = createHash('sha256').update(stack.apiKey).digest('hex');
    const key = Buffer.from(SESSION_SECRET, 'utf8');
    const now = Math.floor(Date.now() / 1000);
    // A token made the way the gateway makes them works, so the refusals below are about what differs.
    const fresh = signWebSession({ owner, sessionId: newSessionId(), issuedAt: now, expiresAt: now + 600 }, key);
    expect((await fetch(`${stack.url}/web/jobs`, withCookie(fresh))).status).toBe(200);

    const expired = signWebSession(
      { owner, sessionId: newSessionId(), issuedAt: now - 7200, expiresAt: now - 60 },
      key,
    );
    const otherSecret = signWebSession(
      { owner, sessionId: newSessionId(), issuedAt: now, expiresAt: now + 600 },
      Buffer.from('x'.repeat(40)),
    );
    const [payload, signature] = fresh.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const longer = `${Buffer.from(JSON.stringify({ ...claims, exp: now + 10 ** 7 })).toString('base64url')}.${signature}`;
    for (const bad of [expired, otherSecret, longer, `${payload}.${signature.slice(1)}`, 'garbage']) {
      const res = await fetch(`${stack.url}/web/jobs`, withCookie(bad));
      expect(res.status).toBe(401);
      expect((await json(res)).error.code).toBe('unauthorized');
      expect(res.headers.get('set-cookie')).toMatch(/^kiln_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0/);
    }
    const page = await fetch(`${stack.url}/`, withCookie(expired));
    await expect(page.text()).resolves.toContain('Your session has ended');
    expect(page.headers.get('set-cookie')).toMatch(/Max-Age=0/);

    // Logout: needs the header, clears the cookie, and the old value stops working.
    const { token } = await login(stack.apiKey);
    expect((await fetch(`${stack.url}/web/jobs`, withCookie(token!))).status).toBe(200);
    expect((await fetch(`${stack.url}/web/session`, withCookie(token!, { method: 'DELETE' }))).status).toBe(403);
    const out = await fetch(
      `${stack.url}/web/session`,
      withCookie(token!, { method: 'DELETE', headers: { 'X-Kiln-Web': '1' } }),
    );
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/^kiln_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0/);
    expect((await fetch(`${stack.url}/web/jobs`, withCookie(token!))).status).toBe(401);
    expect((await fetch(`${stack.url}/web/session`, withCookie(token!))).status).toBe(401);
  });
  it('throttles wrong keys in the login form per client address (429 with Retry-After, even for the right key)', async () => {
    // Fixed one-minute windows: start well inside one so the test never straddles two.
    await waitFor('the start of a minute window', async () => Date.now() % 60_000 < 40_000, 30_000, 250);
    const post = (localAddress: string, key: string) =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
        const body = new URLSearchParams({ api_key: key }).toString();
        const req = http.request(
          `${stack.url}/web/session`,
          {
            method: 'POST',
            localAddress,
            agent: false,
            headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const guesser = '127.0.0.5';
    for (let i = 0; i < 30; i++) {
      const wrong = await post(guesser, `kiln_wrong_guess_${i}_0123456789`);
      expect({ i, status: wrong.status, location: wrong.headers.location }).toEqual({
        i,
        status: 303,
        location: '/?login=failed',
      });
    }
    const over = await post(guesser, 'kiln_wrong_guess_31_0123456789');
    expect(over.status).toBe(429);
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    const right = await post(guesser, stack.apiKey);
    expect(right.status).toBe(429);
    expect(right.headers['set-cookie']).toBeUndefined();
    const elsewhere = await post('127.0.0.6', stack.apiKey);
    expect(elsewhere.status).toBe(303);
    expect(String(elsewhere.headers['set-cookie'])).toMatch(/^kiln_session=/);
  });
});
