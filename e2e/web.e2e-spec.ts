// The web page served by the gateway at `/`, end to end: a real headless Chromium logs in with the
// API key through the plain HTML form, picks a WAV, chooses MP3 and an option, uploads it in chunks,
// follows the conversion live and downloads the result; and plain HTTP checks of the session cookie
// (HttpOnly, never the key, CSRF header, narrow reach, tampering, expiry, logout). Real gateway,
// assembler and converter processes, PostgreSQL, Redis, S3 (radosgw) and ffmpeg.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Request as BrowserRequest } from 'playwright-core';
import { newSessionId, signWebSession } from '../apps/api-gateway/src/auth/web-session-token';
import { probe } from '../libs/media/src/probe';
import { makeAudio, makeImage, makeTempDir } from '../libs/media/src/testing';
import { Stack, json, waitFor } from '../test/stack';

jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '..');
const SESSION_SECRET = `web-session-${randomBytes(24).toString('hex')}`;
const CHUNK = 64 * 1024;
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('web page at / (headless Chromium, real processes)', () => {
  const stack = new Stack();
  let browser: Browser;
  let tmp: { dir: string; remove: () => Promise<void> };
  let wav: string;

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-web-');
    [wav] = await Promise.all([
      makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 3, format: 'wav' }),
      stack.start({
        gateways: 1,
        converters: 1,
        assemblers: 1,
        // Small chunks so the page sends the file as several parallel Content-Range PUTs.
        env: {
          KILN_WEB_SESSION_SECRET: SESSION_SECRET,
          KILN_CHUNK_SIZE_MIN: String(CHUNK),
          KILN_CHUNK_SIZE_MAX: String(CHUNK),
        },
      }),
    ]);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await stack.stop();
    await tmp?.remove();
  });

  /** Logs in with the form's encoding; the session cookie's value (undefined when refused) and the answer. */
  async function login(key: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${stack.url}/web/session`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ api_key: key }).toString(),
      redirect: 'manual',
    });
    const setCookie = res.headers.get('set-cookie') ?? '';
    const token = /^kiln_session=([^;]+);/.exec(setCookie)?.[1];
    return { res, setCookie, token, text: await res.text() };
  }

  const withCookie = (token: string, init: RequestInit & { headers?: Record<string, string> } = {}) => ({
    ...init,
    redirect: 'manual' as const,
    headers: { Cookie: `kiln_session=${token}`, ...init.headers },
  });

  const createBody = { input: [{ type: 'upload', filename: 'a.wav', size: 1000 }], conversion: [{ target: 'mp3' }] };

  it('logs in with the form, converts a picked WAV to MP3 with live progress, downloads it and lists the job', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(String(e)));
    // Everything the page receives (headers and bodies), to prove the key never reaches it.
    const received: Promise<string>[] = [];
    page.on('response', (r) => {
      received.push(
        (async () => `${r.url()} ${JSON.stringify(await r.allHeaders())} ${await r.text().catch(() => '')}`)(),
      );
    });
    const puts: BrowserRequest[] = [];
    page.on('request', (r) => r.method() === 'PUT' && r.url().includes('/v1/uploads/') && puts.push(r));

    // The login page: a plain form, no script at all.
    await page.goto(`${stack.url}/`);
    await expect(page.locator('script').count()).resolves.toBe(0);
    await page.fill('input[name="api_key"]', stack.apiKey);
    await Promise.all([page.waitForURL(`${stack.url}/`), page.click('button[type="submit"]')]);
    await page.waitForSelector('#target:not([disabled])');
    await expect(page.evaluate('document.cookie')).resolves.toBe('');
    const [cookie] = (await context.cookies()).filter((c) => c.name === 'kiln_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(cookie.value).not.toContain(stack.apiKey);
    await page.locator('#who', { hasText: 'Key ' }).waitFor();

    // Pick the file; the page proposes MP3 for audio and renders its options from the catalog.
    await page.setInputFiles('#file-input', wav);
    await expect(page.textContent('#picked')).resolves.toContain('tone.wav');
    await expect(page.inputValue('#target')).resolves.toBe('mp3');
    await page.click('#options-box summary');
    const bitrate = page.locator('#opt-audio_bitrate');
    await expect(bitrate.getAttribute('min')).resolves.toBe('32');
    await expect(bitrate.getAttribute('max')).resolves.toBe('512');
    await expect(page.locator('#opt-sample_rate option').allTextContents()).resolves.toContain('44100');
    await bitrate.fill('96');

    // Record every phase the transfer shows (upload, conversion, done) and the upload bar's values.
    // (Browser code as a string: this project compiles without the DOM library.)
    await page.evaluate(`
      window.phases = [];
      window.uploadValues = [];
      new MutationObserver(() => {
        const li = document.querySelector('#transfers li');
        const phase = li && li.getAttribute('data-phase');
        if (phase && window.phases[window.phases.length - 1] !== phase) window.phases.push(phase);
        const bar = li && li.querySelector('[aria-label="Upload"]');
        const v = bar && bar.getAttribute('aria-valuenow');
        if (v && window.uploadValues[window.uploadValues.length - 1] !== v) window.uploadValues.push(v);
      }).observe(document.querySelector('#transfers'), { subtree: true, childList: true, attributes: true, characterData: true });
    `);
    await page.click('#start');

    const link = page.locator('#transfers li[data-job-id] a.download');
    await link.waitFor({ timeout: 90_000 });
    const jobId = (await page.getAttribute('#transfers li[data-job-id]', 'data-job-id'))!;
    const href = (await link.getAttribute('href'))!;
    expect(href).toMatch(new RegExp(`^/web/jobs/${jobId}/output/[0-9a-f-]{36}/download$`));
    await expect(page.textContent('#transfers li .transfer-stage')).resolves.toMatch(/Done/);

    const seen = (await page.evaluate('({ phases: window.phases, uploadValues: window.uploadValues })')) as {
      phases: string[];
      uploadValues: string[];
    };
    expect(seen.phases).toEqual(['creating', 'uploading', 'converting', 'final']);
    expect(seen.uploadValues[seen.uploadValues.length - 1]).toBe('100');
    expect(seen.uploadValues.length).toBeGreaterThan(1);

    // The upload went as chunks (every byte once) through the upload session, with the job's token.
    const size = (await stat(wav)).size;
    expect(puts.length).toBe(Math.ceil(size / CHUNK));
    const ranges = await Promise.all(puts.map(async (r) => (await r.allHeaders())['content-range']));
    expect(new Set(ranges).size).toBe(puts.length);
    for (const r of puts) expect(await r.headerValue('x-job-token')).toMatch(/^[0-9a-f]{32}$/);

    // The job as the API sees it: MP3 at the chosen bitrate, created by the key that logged in.
    const job = await json(stack.api(`/v1/jobs/${jobId}`));
    expect(job).toMatchObject({
      status: { code: 'completed' },
      conversion: [{ target: 'mp3', options: { audio_bitrate: 96 } }],
      input: [{ filename: 'tone.wav', size }],
    });

    // The link downloads a real MP3 (a 302 to a fresh storage URL), for the browser and for a plain client with the cookie.
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const saved = path.join(tmp.dir, 'browser.mp3');
    await download.saveAs(saved);
    const viaCookie = await fetch(new URL(href, stack.url), { headers: { Cookie: `kiln_session=${cookie.value}` } });
    expect(viaCookie.status).toBe(200);
    const bytes = Buffer.from(await viaCookie.arrayBuffer());
    expect(bytes.length).toBe(job.output[0].size);
    expect((await readFile(saved)).equals(bytes)).toBe(true);
    const info = await probe(saved, { timeoutMs: 10_000 });
    expect(info).toMatchObject({ kind: 'audio', audio_codec: 'mp3' });
    expect(info.duration_s).toBeGreaterThan(2.5);

    // The recent-jobs list shows it, finished, with its download.
    const row = page.locator(`#recent tbody tr[data-job-id="${jobId}"][data-status="completed"]`);
    await row.waitFor({ timeout: 30_000 });
    await expect(row.locator('td.file').textContent()).resolves.toBe('tone.wav');
    await expect(row.locator('td.target').textContent()).resolves.toBe('mp3');
    await expect(row.locator('a.download').getAttribute('href')).resolves.toBe(href);

    await mkdir(path.join(ROOT, '.kiln/artifacts'), { recursive: true });
    await page.screenshot({ path: path.join(ROOT, '.kiln/artifacts/web-finished.png'), fullPage: true });

    // Nothing the page received carries the key; no script error or CSP violation happened.
    const texts = await Promise.all(received);
    expect(texts.length).toBeGreaterThan(10);
    for (const t of texts) expect(t).not.toContain(stack.apiKey);
    expect(problems).toEqual([]);

    // Logging out from the page ends the session.
    await Promise.all([page.waitForURL(/\/\?login=out$/), page.click('#logout')]);
    await expect(page.textContent('.alert')).resolves.toContain('signed out');
    expect((await context.cookies()).filter((c) => c.name === 'kiln_session')).toEqual([]);
    const after = await fetch(`${stack.url}/web/jobs`, withCookie(cookie.value));
    expect(after.status).toBe(401);
    await context.close();
  });

  it('takes a dropped PNG to JPG at a chosen width, and sends a chunk lost on the network again', async () => {
    const png = await makeImage({ path: path.join(tmp.dir, 'frame.png'), width: 640, height: 360 });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(String(e)));
    await page.goto(`${stack.url}/`);
    await page.fill('input[name="api_key"]', stack.apiKey);
    await Promise.all([page.waitForURL(`${stack.url}/`), page.click('button[type="submit"]')]);
    await page.waitForSelector('#target:not([disabled])');

    // The first attempt of the chunk dies on the network (the page retries it); the rest pass through.
    const attempts: string[] = [];
    await page.route('**/v1/uploads/*', async (route) => {
      const req = route.request();
      if (req.method() !== 'PUT') return route.continue();
      attempts.push((await req.allHeaders())['content-range']);
      return attempts.length === 1 ? route.abort('connectionreset') : route.continue();
    });

    // Drop the file on the drop zone, as a person dragging it from a file manager.
    const bytes = (await readFile(png)).toString('base64');
    const transfer = await page.evaluateHandle(`(() => {
      const bin = atob(${JSON.stringify(bytes)});
      const data = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) data[i] = bin.charCodeAt(i);
      const dt = new DataTransfer();
      dt.items.add(new File([data], 'frame.png', { type: 'image/png' }));
      return dt;
    })()`);
    await page.dispatchEvent('#drop', 'dragover', { dataTransfer: transfer });
    await page.dispatchEvent('#drop', 'drop', { dataTransfer: transfer });
    await expect(page.textContent('#picked')).resolves.toContain('frame.png');
    await expect(page.inputValue('#target')).resolves.toBe('jpg');
    // Targets that cannot take an image are not offered.
    await expect(page.locator('#target option[value="mp3"]').isDisabled()).resolves.toBe(true);
    await page.click('#options-box summary');
    await page.fill('#opt-width', '320');
    await page.click('#start');

    const link = page.locator('#transfers li[data-job-id] a.download');
    await link.waitFor({ timeout: 90_000 });
    const size = (await stat(png)).size;
    expect(attempts).toEqual([`bytes 0-${size - 1}/${size}`, `bytes 0-${size - 1}/${size}`]);
    const jobId = (await page.getAttribute('#transfers li[data-job-id]', 'data-job-id'))!;
    const job = await json(stack.api(`/v1/jobs/${jobId}`));
    expect(job).toMatchObject({
      status: { code: 'completed' },
      input: [{ filename: 'frame.png', size }],
      conversion: [{ target: 'jpg', options: { width: 320 } }],
    });

    const [cookie] = (await context.cookies()).filter((c) => c.name === 'kiln_session');
    const res = await fetch(new URL((await link.getAttribute('href'))!, stack.url), {
      headers: { Cookie: `kiln_session=${cookie.value}` },
    });
    expect(res.status).toBe(200);
    const out = path.join(tmp.dir, 'frame.jpg');
    await writeFile(out, Buffer.from(await res.arrayBuffer()));
    await expect(probe(out, { timeoutMs: 10_000 })).resolves.toMatchObject({
      kind: 'image',
      video_codec: 'mjpeg',
      width: 320,
      height: 180,
    });
    expect(problems).toEqual([]);
    await context.close();
  });

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
