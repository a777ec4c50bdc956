// The web page on a server that offers no direct uploads (KILN_DIRECT_UPLOADS=false): it sees that in
// GET /v1/uploads/modes and sends the file in Content-Range chunks through the gateway's upload
// session instead, then converts it as usual. Headless Chromium, real processes.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Request as BrowserRequest } from 'playwright-core';
import { makeImage, makeTempDir } from '../libs/media/src/testing';
import { SESSION_SECRET } from '../test/e2e-helpers/web';
import { Stack, json } from '../test/stack';

jest.setTimeout(120_000);

describe('web page without direct uploads (chunks through the gateway)', () => {
  const stack = new Stack();
  let browser: Browser;
  let tmp: { dir: string; remove: () => Promise<void> };

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-web-proxied-');
    await stack.start({
      gateways: 1,
      assemblers: 1,
      converters: 1,
      env: { KILN_WEB_SESSION_SECRET: SESSION_SECRET, KILN_DIRECT_UPLOADS: 'false' },
    });
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await stack.stop();
    await tmp?.remove();
  });

  it('falls back to upload-session chunks and converts the file', async () => {
    const png = await makeImage({ path: path.join(tmp.dir, 'still.png'), width: 320, height: 240 });
    const size = (await stat(png)).size;
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(String(e)));
    const puts: BrowserRequest[] = [];
    const uppyCalls: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'PUT' && r.url().includes('/v1/uploads/')) puts.push(r);
      if (r.url().includes('/v1/uppy/')) uppyCalls.push(r.url());
    });
    await page.goto(`${stack.url}/`);
    await page.fill('input[name="api_key"]', stack.apiKey);
    await Promise.all([page.waitForURL(`${stack.url}/`), page.click('button[type="submit"]')]);
    await page.waitForSelector('#target:not([disabled])');
    await page.setInputFiles('#file-input', png);
    await expect(page.inputValue('#target')).resolves.toBe('jpg');
    await page.click('#start');
    await page.locator('#transfers li[data-job-id] a.download').waitFor({ timeout: 90_000 });

    expect(uppyCalls).toEqual([]);
    expect(puts.length).toBeGreaterThan(0);
    expect(await puts[0].headerValue('content-range')).toMatch(new RegExp(`^bytes 0-\\d+/${size}$`));
    const jobId = (await page.getAttribute('#transfers li[data-job-id]', 'data-job-id'))!;
    const job = await json(stack.api(`/v1/jobs/${jobId}`));
    expect(job).toMatchObject({ status: { code: 'completed' }, input: [{ filename: 'still.png', size }] });
    expect(problems).toEqual([]);
    await page.close();
  });
});
