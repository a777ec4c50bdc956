// The web page uploads with real, unmodified Uppy (@uppy/core + @uppy/aws-s3 bundled by
// scripts/build.mjs) against the gateway's Companion-style endpoints (/v1/uppy/t/<job token>/s3/…):
// a 40 MiB WAV goes in 5 MiB parts straight from headless Chromium to S3 (radosgw), the storage side
// of the network is cut after a few parts, the page offers to resume, Uppy lists the parts S3 holds
// and sends only the others, Kiln checks and completes the upload, the job converts it to MP3 and the
// output downloads. The stored input's sha256 is the file's; not one byte of it passed the gateway.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client as Pg } from 'pg';
import { chromium, type Browser, type Request as BrowserRequest, type Route } from 'playwright-core';
import { probe } from '../libs/media/src/probe';
import { keysUnder, objectStoreOf } from '../test/e2e-helpers/object-store';
import { useWebStack } from '../test/e2e-helpers/web';
import { json } from '../test/stack';

jest.setTimeout(240_000);

const ROOT = path.resolve(__dirname, '..');
// Where the page's screenshots go: .kiln/artifacts, or KILN_SCREENSHOT_DIR (docs/screenshots holds the
// committed ones: `KILN_SCREENSHOT_DIR=docs/screenshots npx jest e2e/uppy-direct.e2e-spec.ts` renews them).
const SCREENSHOTS = path.resolve(ROOT, process.env.KILN_SCREENSHOT_DIR ?? '.kiln/artifacts');
const MiB = 1024 * 1024;
const PART = 5 * MiB; // Uppy's default part for a file under 50 GB: max(5 MiB, size / 10000)
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
];

async function sha256Of(stream: NodeJS.ReadableStream): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of stream) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The gateway's counter of upload bytes it received (every kind summed). */
async function gatewayUploadBytes(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith('kiln_upload_bytes_received_total{')) sum += Number(line.split(' ').pop());
  return sum;
}

describe('Uppy on the web page: direct upload to S3, interrupted and resumed (headless Chromium)', () => {
  const w = useWebStack();
  const { stack } = w;
  let browser: Browser;
  let wav: string;

  beforeAll(async () => {
    // A 48 kHz stereo 16-bit WAV of a tone, just over 40 MiB (218.5 s).
    wav = path.join(w.tmp.dir, 'long-tone.wav');
    await promisify(execFile)('ffmpeg', [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:sample_rate=48000',
      '-ac',
      '2',
      '-t',
      '218.5',
      '-c:a',
      'pcm_s16le',
      '-y',
      wav,
    ]);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('sends a 40 MiB WAV in parts straight to S3, resumes after a cut, converts it and downloads the MP3', async () => {
    const size = (await stat(wav)).size;
    expect(size).toBeGreaterThan(40 * MiB);
    const fileSha = await sha256Of(createReadStream(wav));
    const gatewayBytesBefore = await gatewayUploadBytes(stack.url);

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(String(e)));
    // Every request the page makes, by where it goes: the gateway's body bytes must stay small.
    const gatewayRequests: BrowserRequest[] = [];
    const s3Puts: BrowserRequest[] = [];
    const s3Origin = new URL(stack.env.S3_ENDPOINT).origin;
    page.on('request', (r) => {
      if (r.url().startsWith(stack.url)) gatewayRequests.push(r);
      else if (r.url().startsWith(s3Origin) && r.method() === 'PUT') s3Puts.push(r);
    });
    const partsDone: number[] = [];
    page.on('requestfinished', async (r) => {
      if (!r.url().startsWith(s3Origin) || r.method() !== 'PUT') return;
      const res = await r.response();
      if (res?.ok()) partsDone.push(Number(new URL(r.url()).searchParams.get('partNumber')));
    });

    await page.goto(`${stack.url}/`);
    await page.fill('input[name="api_key"]', stack.apiKey);
    await Promise.all([page.waitForURL(`${stack.url}/`), page.click('button[type="submit"]')]);
    await page.waitForSelector('#target:not([disabled])');
    await page.setInputFiles('#file-input', wav);
    await expect(page.inputValue('#target')).resolves.toBe('mp3');

    // The cut: once three parts are in S3, every further PUT to S3 dies on the network (Uppy retries,
    // then reports the error; the page pauses the transfer and offers to resume).
    let cut = false;
    const refused: number[] = [];
    const cutter = async (route: Route) => {
      if (route.request().method() !== 'PUT') return route.continue();
      refused.push(Number(new URL(route.request().url()).searchParams.get('partNumber')));
      return route.abort('connectionreset');
    };
    page.on('requestfinished', () => {
      if (!cut && partsDone.length >= 3) {
        cut = true;
        void page.route(`${s3Origin}/**`, cutter);
      }
    });
    await page.click('#start');

    const item = page.locator('#transfers li[data-job-id]');
    await page.locator('#transfers li[data-phase="paused"]').waitFor({ timeout: 120_000 });
    const jobId = (await item.getAttribute('data-job-id'))!;
    await expect(page.textContent('#transfers li .transfer-stage')).resolves.toMatch(/Upload interrupted/);
    expect(refused.length).toBeGreaterThan(0);
    await mkdir(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'uppy-direct-upload-paused.png') });

    // What S3 holds now, as Kiln reports it: the parts sent before the cut, each of its exact size.
    const job = await json(stack.api(`/v1/jobs/${jobId}`));
    const pg = new Pg({ connectionString: stack.db.url });
    await pg.connect();
    const uploads = await pg.query('SELECT id FROM uploads WHERE job_id = $1', [jobId]).finally(() => pg.end());
    expect(uploads.rows).toHaveLength(1);
    const uploadId: string = uploads.rows[0].id;
    const session = await json(stack.api(`/v1/uploads/${uploadId}`));
    expect(session).toMatchObject({
      mode: 'direct',
      transfer: 'multipart',
      part_size: PART,
      part_count: Math.ceil(size / PART),
    });
    const held = (session.parts as { part_number: number; size: number }[])
      .map((p) => p.part_number)
      .sort((a, b) => a - b);
    expect(held.length).toBeGreaterThanOrEqual(3);
    expect(held.length).toBeLessThan(session.part_count);
    for (const p of session.parts) expect(p.size).toBe(PART);
    expect(job.status.code).not.toBe('completed');

    // Resume: the network is back; Uppy asks which parts S3 has (list parts) and sends the others only.
    await page.unroute(`${s3Origin}/**`, cutter);
    const putsBeforeResume = s3Puts.length;
    const listBefore = gatewayRequests.filter(
      (r) => /\/s3\/multipart\/[^/?]+\?key=/.test(r.url()) && r.method() === 'GET',
    ).length;
    await page.click('#transfers li button:has-text("Resume upload")');

    const link = page.locator('#transfers li[data-job-id] a.download');
    await link.waitFor({ timeout: 150_000 });
    const listed = gatewayRequests.filter((r) => /\/s3\/multipart\/[^/?]+\?key=/.test(r.url()) && r.method() === 'GET');
    expect(listed.length).toBe(listBefore + 1);
    const resent = s3Puts.slice(putsBeforeResume).map((r) => Number(new URL(r.url()).searchParams.get('partNumber')));
    const allParts = Array.from({ length: session.part_count }, (_, i) => i + 1);
    expect([...new Set(resent)].sort((a, b) => a - b)).toEqual(allParts.filter((n) => !held.includes(n)));

    // The stored input is the file, byte for byte.
    const done = await json(stack.api(`/v1/jobs/${jobId}`));
    expect(done).toMatchObject({ status: { code: 'completed' }, input: [{ filename: 'long-tone.wav', size }] });
    const store = objectStoreOf(stack);
    // (A direct multipart upload's object stays where S3 completed it: uploads/<upload id>/<name>.)
    const inputKeys = [
      ...(await keysUnder(store, `inputs/${jobId}/`)),
      ...(await keysUnder(store, `uploads/${uploadId}/`)),
    ];
    expect(inputKeys).toHaveLength(1);
    expect(await sha256Of(await store.get(inputKeys[0]))).toBe(fileSha);

    // No byte of the file passed through the gateway: its upload counter did not move, and everything
    // the page sent it (JSON calls, Uppy's signing requests) is a few kilobytes.
    expect(await gatewayUploadBytes(stack.url)).toBe(gatewayBytesBefore);
    const sentToGateway = gatewayRequests.reduce((n, r) => n + (r.postDataBuffer()?.length ?? 0), 0);
    expect(sentToGateway).toBeLessThan(64 * 1024);
    // The bytes went to S3: every part once, each PUT of its part's exact length.
    const stored: number[] = [];
    for (const r of s3Puts) {
      if (!(await r.response())?.ok()) continue;
      const n = Number(new URL(r.url()).searchParams.get('partNumber'));
      stored.push(n);
      expect((await r.allHeaders())['content-length']).toBe(String(Math.min(PART, size - (n - 1) * PART)));
    }
    // (The part in flight at the cut may have reached S3 without the page seeing its answer: it is
    // among the parts Kiln listed before the resume.)
    expect(new Set(stored).size).toBe(stored.length);
    expect([...new Set([...stored, ...held])].sort((a, b) => a - b)).toEqual(allParts);

    await page.screenshot({ path: path.join(SCREENSHOTS, 'uppy-direct-upload.png'), fullPage: true });

    // The MP3 downloads and is one.
    const [cookie] = (await context.cookies()).filter((c) => c.name === 'kiln_session');
    const res = await fetch(new URL((await link.getAttribute('href'))!, stack.url), {
      headers: { Cookie: `kiln_session=${cookie.value}` },
    });
    expect(res.status).toBe(200);
    const out = path.join(w.tmp.dir, 'long-tone.mp3');
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(out, Buffer.from(await res.arrayBuffer()));
    const info = await probe(out, { timeoutMs: 20_000 });
    expect(info).toMatchObject({ kind: 'audio', audio_codec: 'mp3' });
    expect(info.duration_s).toBeGreaterThan(200);
    expect(problems).toEqual([]);
    await context.close();
  });
});
