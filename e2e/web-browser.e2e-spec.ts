// The web page served by the gateway at `/`, end to end in a real headless Chromium: it logs in
// with the API key through the plain HTML form, picks a WAV, chooses MP3 and an option, uploads it
// straight to S3 with Uppy (a direct session; the gateway only signs), follows the conversion live and
// downloads the result; a dropped picture is resized.
// Real gateway, assembler and converter processes, PostgreSQL, Redis, S3 (radosgw) and ffmpeg.
// The session cookie's plain HTTP checks are in web.e2e-spec.ts.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Request as BrowserRequest } from 'playwright-core';
import { probe } from '../libs/media/src/probe';
import { makeImage } from '../libs/media/src/testing';
import { useWebStack, withCookie } from '../test/e2e-helpers/web';
import { json } from '../test/stack';

jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '..');
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
  const w = useWebStack();
  const { stack } = w;
  let browser: Browser;

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
  });

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
    // The file's bytes go to S3 (part PUTs); the gateway sees Uppy's signing calls only.
    const s3Origin = new URL(stack.env.S3_ENDPOINT).origin;
    const puts: BrowserRequest[] = [];
    const uppyCalls: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'PUT' && r.url().startsWith(s3Origin)) puts.push(r);
      if (r.url().startsWith(`${stack.url}/v1/uppy/`))
        uppyCalls.push(`${r.method()} ${r.url().slice(stack.url.length)}`);
      if (r.method() === 'PUT' && r.url().startsWith(stack.url)) problems.push(`a PUT to the gateway: ${r.url()}`);
    });

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
    await page.setInputFiles('#file-input', w.wav);
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

    // The upload went straight to S3 in one part (the file is under 5 MiB), of exactly the file's
    // length, signed by the gateway's Uppy endpoints under the job's token.
    const size = (await stat(w.wav)).size;
    expect(puts.length).toBe(1);
    expect(new URL(puts[0].url()).searchParams.get('partNumber')).toBe('1');
    expect((await puts[0].allHeaders())['content-length']).toBe(String(size));
    const token = /^POST \/v1\/uppy\/t\/([0-9a-f]{32})\/s3\/multipart$/.exec(uppyCalls[0])?.[1];
    expect(token).toMatch(/^[0-9a-f]{32}$/);
    expect(uppyCalls.map((c) => c.replace(/[?].*$/, '').replace(/[0-9a-f-]{36}/g, '<id>'))).toEqual([
      `POST /v1/uppy/t/${token}/s3/multipart`,
      `GET /v1/uppy/t/${token}/s3/multipart/<id>/1`,
      `POST /v1/uppy/t/${token}/s3/multipart/<id>/complete`,
    ]);

    // The job as the API sees it: MP3 at the chosen bitrate, created by the key that logged in.
    const job = await json(stack.api(`/v1/jobs/${jobId}`));
    expect(job).toMatchObject({
      status: { code: 'completed' },
      conversion: [{ target: 'mp3', options: { audio_bitrate: 96 } }],
      input: [{ filename: 'tone.wav', size }],
    });

    // The link downloads a real MP3 (a 302 to a fresh storage URL), for the browser and for a plain client with the cookie.
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const saved = path.join(w.tmp.dir, 'browser.mp3');
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

  it('takes a dropped PNG to JPG at a chosen width, and sends a part lost on the network again', async () => {
    const png = await makeImage({ path: path.join(w.tmp.dir, 'frame.png'), width: 640, height: 360 });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(String(e)));
    await page.goto(`${stack.url}/`);
    await page.fill('input[name="api_key"]', stack.apiKey);
    await Promise.all([page.waitForURL(`${stack.url}/`), page.click('button[type="submit"]')]);
    await page.waitForSelector('#target:not([disabled])');

    // The first attempt of the part dies on the network (Uppy retries it); the rest pass through.
    const s3Origin = new URL(stack.env.S3_ENDPOINT).origin;
    const attempts: string[] = [];
    await page.route(`${s3Origin}/**`, async (route) => {
      const req = route.request();
      if (req.method() !== 'PUT') return route.continue();
      attempts.push(`part ${new URL(req.url()).searchParams.get('partNumber')}: ${req.postDataBuffer()?.length} bytes`);
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
    expect(attempts).toEqual([`part 1: ${size} bytes`, `part 1: ${size} bytes`]);
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
    const out = path.join(w.tmp.dir, 'frame.jpg');
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
});
