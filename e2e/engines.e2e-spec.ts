// Engines beyond ffmpeg, end to end: a media converter (ffmpeg, libvips) and a document converter
// (LibreOffice, poppler) as separate OS processes, each consuming only its engines' queues. A docx →
// pdf job and a png → webp job each go through their own pool; an impossible pair is refused at
// request time, or fails `unsupported_media_type` when the kind is learned later; bad documents and
// images fail `unprocessable`; a running LibreOffice conversion is canceled.
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import sharp from 'sharp';
import { makeAudio, makeDeclaredPng, makeImage, makeTempDir, makeVideo } from '../libs/media/src/testing';
import { logLines } from '../test/e2e-helpers/app-logs';
import { jobEnded, submitJob } from '../test/e2e-helpers/jobs';
import { Stack, json, waitFor } from '../test/stack';

jest.setTimeout(240_000);
const run = promisify(execFile);

/** A docx of `pages` pages, made by LibreOffice itself from generated HTML (no binary fixture). */
async function makeDocx(dir: string, name: string, pages: number): Promise<string> {
  const body = Array.from(
    { length: pages },
    (_, i) =>
      `<h1>Page ${i + 1}</h1><p>${'Kiln converts documents through LibreOffice. '.repeat(40)}</p>` +
      (i < pages - 1 ? '<p style="page-break-after: always"></p>' : ''),
  ).join('');
  const html = path.join(dir, `${name}.html`);
  await writeFile(html, `<!doctype html><html><body>${body}</body></html>`);
  const profile = path.join(dir, `profile-${name}`);
  await run(
    'soffice',
    [
      `-env:UserInstallation=file://${profile}`,
      '--headless',
      '--norestore',
      '--convert-to',
      'docx:MS Word 2007 XML',
      '--outdir',
      dir,
      html,
    ],
    { timeout: 120_000 },
  );
  return path.join(dir, `${name}.docx`);
}

async function pdfPages(file: string): Promise<number> {
  const { stdout } = await run('pdfinfo', [file]);
  return Number(/^Pages:\s+(\d+)/m.exec(stdout)?.[1]);
}

describe('engines: a media pool and a document pool', () => {
  const stack = new Stack();
  let tmp: { dir: string; remove: () => Promise<void> };
  let docx: Buffer;
  let bigDocx: Buffer;
  let png: Buffer;
  let wav: Buffer;
  let db: Client;
  const q = async <T>(sql: string, params: unknown[]): Promise<T[]> => (await db.query(sql, params)).rows as T[];
  const media = () => stack.apps.find((a) => a.name === 'converter-1')!;
  const documents = () => stack.apps.find((a) => a.name === 'converter-2')!;

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-engines-');
    docx = await readFile(await makeDocx(tmp.dir, 'report', 10));
    bigDocx = await readFile(await makeDocx(tmp.dir, 'long', 400));
    png = await readFile(await makeImage({ path: path.join(tmp.dir, 'pic.png'), width: 320, height: 200 }));
    wav = await readFile(await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 1, format: 'wav' }));
    await stack.start({
      converters: 2,
      placement: (app, name) =>
        app !== 'converter'
          ? undefined
          : { env: { KILN_CONVERTER_ENGINES: name === 'converter-1' ? 'ffmpeg,vips' : 'office' } },
    });
    db = new Client({ connectionString: stack.db.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await stack.stop();
    await tmp?.remove();
  });

  const submit = (file: Buffer, filename: string, conversion: object) => submitJob(stack, file, filename, conversion);

  async function download(job: { output: { uri: string }[] }): Promise<Buffer> {
    const res = await fetch(job.output[0].uri);
    expect(res.status).toBe(200);
    return Buffer.from(await res.arrayBuffer());
  }

  const unitsOf = (app: ReturnType<typeof media>, queue: string) =>
    logLines(app).filter((l) => l.queue === queue && l.outcome === 'success').length;

  it('GET /v1/formats names the engine of each target per input kind', async () => {
    const formats = await json(stack.api('/v1/formats'));
    const byTarget = Object.fromEntries(formats.map((t: { target: string }) => [t.target, t]));
    expect(byTarget.pdf.engines).toEqual({ document: 'office', spreadsheet: 'office', presentation: 'office' });
    expect(byTarget.webp.engines).toEqual({ image: 'vips', video: 'ffmpeg' });
    expect(byTarget.png.engines).toEqual({ image: 'vips', video: 'ffmpeg', pdf: 'office' });
    expect(byTarget.mp3.engines).toEqual({ audio: 'ffmpeg', video: 'ffmpeg' });
  });

  it('a docx → pdf job and a png → webp job each go through their own converter pool', async () => {
    const [docJob, imageJob] = await Promise.all([
      submit(docx, 'report.docx', { target: 'pdf' }),
      submit(png, 'pic.png', { target: 'webp', options: { width: 160, quality: 70 } }),
    ]);
    const [doc, image] = await Promise.all([jobEnded(stack, docJob), jobEnded(stack, imageJob)]);
    expect([doc.status.code, image.status.code]).toEqual(['completed', 'completed']);

    const pdf = path.join(tmp.dir, 'out.pdf');
    await writeFile(pdf, await download(doc));
    expect(await pdfPages(pdf)).toBe(10);
    expect(doc.output[0]).toMatchObject({ filename: 'report.pdf', content_type: 'application/pdf' });
    expect(doc.input[0]).toMatchObject({ kind: 'document', format: 'docx' });
    expect(image.input[0]).toMatchObject({ kind: 'image', format: 'png' });

    const meta = await sharp(await download(image)).metadata();
    expect({ format: meta.format, width: meta.width, height: meta.height }).toEqual({
      format: 'webp',
      width: 160,
      height: 100,
    });

    // The ledger names each unit's engine and the input's kind read from its bytes.
    const rows = await q<{ engine: string; kind: string; format: string }>(
      `SELECT o.engine, i.kind, i.format FROM outputs o JOIN inputs i ON i.id = o.input_id
       WHERE o.job_id = ANY($1::uuid[]) ORDER BY o.engine`,
      [[docJob, imageJob]],
    );
    expect(rows).toEqual([
      { engine: 'office', kind: 'document', format: 'docx' },
      { engine: 'vips', kind: 'image', format: 'png' },
    ]);
    // Each pool took only its own queue.
    await waitFor('the units in the logs', async () => unitsOf(documents(), 'convert-office') >= 1);
    expect(unitsOf(documents(), 'convert-vips') + unitsOf(documents(), 'convert')).toBe(0);
    expect(unitsOf(media(), 'convert-vips')).toBeGreaterThanOrEqual(1);
    expect(unitsOf(media(), 'convert-office')).toBe(0);
  });

  it('refuses an impossible pair at request time when the input kind is known: 415, no conversion stored', async () => {
    const created = await json(
      stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ process: false, conversion: [] }),
      }),
    );
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(wav)]), 'tone.wav');
    expect((await stack.api(`/v1/jobs/${created.id}/upload`, { method: 'POST', body: form })).status).toBe(201);
    await waitFor('the input ready', async () => {
      const j = await json(stack.api(`/v1/jobs/${created.id}`));
      return j.input[0]?.status === 'ready';
    });
    const res = await stack.api(`/v1/jobs/${created.id}/conversions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ target: 'pdf' }),
    });
    expect(res.status).toBe(415);
    const body = await json(res);
    expect(body.error.code).toBe('unsupported_media_type');
    expect(body.error.message).toMatch(/audio \(wav\); pdf is made from document, spreadsheet, presentation/);
    const [{ n }] = await q<{ n: number }>('SELECT COUNT(*)::int AS n FROM conversions WHERE job_id = $1', [
      created.id,
    ]);
    expect(n).toBe(0);
    // A target the input can become is taken.
    const ok = await stack.api(`/v1/jobs/${created.id}/conversions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ target: 'mp3' }),
    });
    expect(ok.status).toBe(201);
  });

  it('an impossible pair learned only from the bytes fails the unit as unsupported_media_type', async () => {
    const id = await submit(wav, 'tone.wav', { target: 'docx' });
    const job = await jobEnded(stack, id);
    expect(job.status.code).toBe('failed');
    expect(job.errors[0]).toMatchObject({ code: 'unsupported_media_type' });
    expect(job.errors[0].message).toMatch(/audio \(wav\); docx is made from document/);
  });

  it('bad documents and images fail unprocessable with a clear message, and the converters live on', async () => {
    const bomb = await readFile(
      await makeDeclaredPng({ path: path.join(tmp.dir, 'bomb.png'), width: 60_000, height: 60_000 }),
    );
    // A docx's first bytes (so it is detected as one) followed by garbage: a corrupt zip.
    const corrupt = Buffer.concat([docx.subarray(0, 4096), Buffer.alloc(8192, 0x41)]);
    const [bombJob, corruptJob] = await Promise.all([
      submit(bomb, 'bomb.png', { target: 'jpg' }),
      submit(corrupt, 'broken.docx', { target: 'pdf' }),
    ]);
    const [b, c] = await Promise.all([jobEnded(stack, bombJob), jobEnded(stack, corruptJob)]);
    expect(b.status.code).toBe('failed');
    expect(b.errors[0].code).toBe('unprocessable');
    expect(b.errors[0].message).toMatch(/pixel/i);
    expect(c.status.code).toBe('failed');
    expect(c.errors[0].code).toBe('unprocessable');
    expect(media().child.exitCode).toBeNull();
    expect(documents().child.exitCode).toBeNull();
    // Both pools still convert.
    const after = await jobEnded(stack, await submit(docx, 'again.docx', { target: 'odt' }));
    expect(after.status.code).toBe('completed');
    expect(after.output[0].content_type).toBe('application/vnd.oasis.opendocument.text');
  });

  it('cancels a running LibreOffice conversion: the job is canceled and no soffice of it is left', async () => {
    const id = await submit(bigDocx, 'long.docx', { target: 'pdf' });
    await waitFor(
      'the conversion to run',
      async () => {
        const [row] = await q<{ status: string }>('SELECT status FROM outputs WHERE job_id = $1', [id]);
        return row?.status === 'processing';
      },
      60_000,
      50,
    );
    // LibreOffice runs for this converter (its profiles live under kiln-office-<tag>.<pid>.<start>): the check below can fail.
    const pid = documents().child.pid!;
    const soffice = async () =>
      (await run('pgrep', ['-f', `kiln-office-[0-9a-f]{8}\\.${pid}\\.`]).catch(() => ({ stdout: '' }))).stdout.trim();
    await waitFor('soffice at work', async () => (await soffice()) !== '', 30_000, 50);
    const del = await stack.api(`/v1/jobs/${id}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    const job = await jobEnded(stack, id);
    expect(job.status.code).toBe('canceled');
    await waitFor('no soffice of the document converter', async () => (await soffice()) === '');
    const outputs = await q<{ status: string }>('SELECT status FROM outputs WHERE job_id = $1', [id]);
    expect(outputs.map((o) => o.status)).toEqual(['canceled']);
  });

  it('renders PDF pages to images (every page a file) through the document pool', async () => {
    const pdf = path.join(tmp.dir, 'pages-src.pdf');
    await mkdir(path.join(tmp.dir, 'pages'), { recursive: true });
    const docJob = await jobEnded(stack, await submit(docx, 'pages.docx', { target: 'pdf' }));
    await writeFile(pdf, await download(docJob));
    const id = await submit(await readFile(pdf), 'pages.pdf', { target: 'png', options: { dpi: 50 } });
    const job = await jobEnded(stack, id);
    expect(job.status.code).toBe('completed');
    const files = job.output[0].files as { name: string; uri: string; content_type: string }[];
    expect(files.map((f) => f.name)).toEqual(Array.from({ length: 10 }, (_, i) => `pages-${i + 1}.png`));
    // Every page is stored and downloadable, not only the first.
    const pages = await Promise.all(
      files.map(async (f) => sharp(Buffer.from(await (await fetch(f.uri)).arrayBuffer())).metadata()),
    );
    expect(pages.map((p) => p.format)).toEqual(Array(10).fill('png'));
    const first = pages[0];
    // A4 or Letter at 50 dpi: about 413-425 × 550-585 pixels.
    expect(first.width).toBeGreaterThan(400);
    expect(first.width).toBeLessThan(440);
  });

  it('makes HLS through the media pool, playable by ffmpeg from its stream_uri (segments from storage)', async () => {
    const video = await readFile(
      await makeVideo({ path: path.join(tmp.dir, 'clip.mp4'), seconds: 4, width: 640, height: 360, audio: true }),
    );
    const id = await submit(video, 'clip.mp4', { target: 'hls', options: { renditions: '360p', segment_duration: 2 } });
    const job = await jobEnded(stack, id);
    expect(job.status.code).toBe('completed');
    const out = job.output[0];
    expect(out.filename).toBe('clip.m3u8');
    expect(out.files.map((f: { name: string }) => f.name)).toEqual(
      expect.arrayContaining(['clip.m3u8', '360p/index.m3u8', '360p/segment_000.ts']),
    );
    expect(out.stream_uri).toMatch(/\/v1\/files\/[0-9a-f-]{36}\/\d+\/[\w-]+\/clip\.m3u8$/);
    const { stdout } = await run('ffprobe', [
      '-v',
      'error',
      '-show_entries',
      'format=duration:stream=codec_type,height',
      '-of',
      'json',
      out.stream_uri,
    ]);
    const probe = JSON.parse(stdout);
    expect(Number(probe.format.duration)).toBeGreaterThan(3.5);
    expect(Number(probe.format.duration)).toBeLessThan(4.5);
    expect(probe.streams.find((s: { codec_type: string }) => s.codec_type === 'video').height).toBe(360);
    // A segment answers with a redirect to storage; a wrong signature is a 404.
    const segment = out.stream_uri.replace(/clip\.m3u8$/, '360p/segment_000.ts');
    const redirect = await fetch(segment, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toContain(stack.env.S3_BUCKET);
    const forged = out.stream_uri.replace(/\/([\w-]{32})\/clip\.m3u8$/, '/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/clip.m3u8');
    expect((await fetch(forged)).status).toBe(404);
  });
});
