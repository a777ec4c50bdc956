// The kind of an input is told from its bytes: real files of every family Kiln converts, made by the
// real tools in the test (ffmpeg, libvips, LibreOffice), stored in the test S3 server under names
// that lie, and read back with a ranged GET of the head (readStoredKind). Then the engine each
// target takes them to (unitEngine), and an impossible pair.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { MinioObjectStore } from '@kiln/storage';
import { minioObjectStoreOptionsFromEnv } from '@kiln/storage/testing';
import { makeAudio, makeTempDir, makeVideo } from '../../media/src/testing';
import { readStoredKind, unitEngine } from './input-kinds';

jest.setTimeout(180_000);
const run = promisify(execFile);

describe('input kinds from the bytes (real files, real S3)', () => {
  const store = new MinioObjectStore({
    ...minioObjectStoreOptionsFromEnv(process.env),
    bucket: `kiln-kinds-${randomBytes(5).toString('hex')}`,
  });
  let tmp: { dir: string; remove: () => Promise<void> };
  const files: Record<string, string> = {};

  /** LibreOffice converts a generated source into `ext` with `filter`. */
  async function office(source: string, ext: string, filter: string): Promise<string> {
    const out = path.join(tmp.dir, 'office');
    await mkdir(out, { recursive: true });
    await run(
      'soffice',
      [
        `-env:UserInstallation=file://${tmp.dir}/profile`,
        '--headless',
        '--norestore',
        '--convert-to',
        `${ext}:${filter}`,
        '--outdir',
        out,
        source,
      ],
      { timeout: 120_000 },
    );
    return path.join(out, `${path.parse(source).name}.${ext}`);
  }

  beforeAll(async () => {
    await store.ensureBucket();
    tmp = await makeTempDir('kiln-kinds-');
    const d = tmp.dir;
    files.png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } })
      .png()
      .toFile(path.join(d, 'a.png'))
      .then(() => path.join(d, 'a.png'));
    for (const [name, fmt] of [
      ['b.jpg', 'jpeg'],
      ['c.webp', 'webp'],
      ['d.gif', 'gif'],
      ['e.tiff', 'tiff'],
      ['f.avif', 'avif'],
    ] as const) {
      await sharp(files.png).toFormat(fmt).toFile(path.join(d, name));
      files[fmt] = path.join(d, name);
    }
    files.mp4 = await makeVideo({ path: path.join(d, 'v.mp4'), seconds: 1, width: 64, height: 48, audio: true });
    files.wav = await makeAudio({ path: path.join(d, 't.wav'), seconds: 1, format: 'wav' });
    files.mp3 = await makeAudio({ path: path.join(d, 't.mp3'), seconds: 1, format: 'mp3' });
    files.flac = await makeAudio({ path: path.join(d, 't.flac'), seconds: 1, format: 'flac' });
    files.ogg = await makeAudio({ path: path.join(d, 't.ogg'), seconds: 1, format: 'ogg' });
    files.m4a = await makeAudio({ path: path.join(d, 't.m4a'), seconds: 1, format: 'm4a' });
    const html = path.join(d, 'doc.html');
    await writeFile(html, '<!doctype html><html><body><h1>Kiln</h1><p>text</p></body></html>');
    files.html = html;
    const csv = path.join(d, 'sheet.csv');
    await writeFile(csv, 'a,b\n1,2\n');
    files.csv = csv;
    files.docx = await office(html, 'docx', 'MS Word 2007 XML');
    files.odt = await office(html, 'odt', 'writer8');
    files.doc = await office(html, 'doc', 'MS Word 97');
    files.rtf = await office(html, 'rtf', 'Rich Text Format');
    files.pdf = await office(html, 'pdf', 'writer_pdf_Export');
    files.xlsx = await office(csv, 'xlsx', 'Calc MS Excel 2007 XML');
    files.ods = await office(csv, 'ods', 'calc8');
    files.xls = await office(csv, 'xls', 'MS Excel 97');
    const odp = await office(html, 'odp', 'impress8').catch(() => null);
    if (odp) files.odp = odp;
    files.pptx = await office(files.odp ?? html, 'pptx', 'Impress MS PowerPoint 2007 XML');
  });

  afterAll(async () => {
    await tmp?.remove();
  });

  /** Stores the file under a name that lies (`upload.bin`), then detects it from the stored head. */
  async function detect(file: string, filename: string | null = 'upload.bin') {
    const key = `inputs/kinds/${randomBytes(6).toString('hex')}/${path.basename(file)}`;
    await store.put(key, createReadStream(file), { size: (await stat(file)).size });
    return readStoredKind(store, key, filename);
  }

  it.each([
    ['png', 'image', 'png'],
    ['jpeg', 'image', 'jpeg'],
    ['webp', 'image', 'webp'],
    ['gif', 'image', 'gif'],
    ['tiff', 'image', 'tiff'],
    ['avif', 'image', 'avif'],
    ['mp4', 'video', 'mp4'],
    ['wav', 'audio', 'wav'],
    ['mp3', 'audio', 'mp3'],
    ['flac', 'audio', 'flac'],
    ['ogg', 'audio', 'ogg'],
    ['m4a', 'audio', 'm4a'],
    ['docx', 'document', 'docx'],
    ['odt', 'document', 'odt'],
    ['doc', 'document', 'doc'],
    ['rtf', 'document', 'rtf'],
    ['pdf', 'pdf', 'pdf'],
    ['xlsx', 'spreadsheet', 'xlsx'],
    ['ods', 'spreadsheet', 'ods'],
    ['xls', 'spreadsheet', 'xls'],
    ['pptx', 'presentation', 'pptx'],
  ])('a %s made by its tool is %s (%s), whatever its name', async (file, kind, format) => {
    expect(await detect(files[file])).toEqual({ kind, format });
  });

  it('reads text by its shape, and by its name only where the bytes cannot tell (csv vs txt)', async () => {
    expect(await detect(files.html, 'page.txt')).toEqual({ kind: 'document', format: 'html' });
    expect(await detect(files.csv, 'sheet.csv')).toEqual({ kind: 'spreadsheet', format: 'csv' });
    expect(await detect(files.csv, 'notes.txt')).toEqual({ kind: 'document', format: 'txt' });
  });

  it('knows nothing of bytes no engine reads (a binary blob, an SVG)', async () => {
    const blob = path.join(tmp.dir, 'blob');
    await writeFile(blob, Buffer.concat([Buffer.from([0, 1, 2, 3, 0xfe]), randomBytes(4096)]));
    expect(await detect(blob)).toEqual({ kind: null, format: 'unknown' });
    const svg = path.join(tmp.dir, 'x.svg');
    await writeFile(svg, '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>');
    expect(await detect(svg, 'x.svg')).toEqual({ kind: null, format: 'unknown' });
  });

  it('routes each unit to the engine of its target and input kind', () => {
    expect(unitEngine('webp', { kind: 'image', format: 'png' })).toBe('vips');
    expect(unitEngine('jpg', { kind: 'video', format: 'mp4' })).toBe('ffmpeg');
    expect(unitEngine('png', { kind: 'pdf', format: 'pdf' })).toBe('office');
    expect(unitEngine('pdf', { kind: 'spreadsheet', format: 'xlsx' })).toBe('office');
    expect(unitEngine('mp3', { kind: 'audio', format: 'wav' })).toBe('ffmpeg');
    // An image format libvips does not read goes to ffmpeg where the target allows it.
    expect(unitEngine('png', { kind: 'image', format: 'bmp' })).toBe('ffmpeg');
    // Unknown bytes: ffmpeg's probe decides (and refuses what is no media).
    expect(unitEngine('png', { kind: null, format: 'unknown' })).toBe('ffmpeg');
    // An impossible pair still names an engine: the target's first, whose converter refuses the unit.
    expect(unitEngine('pdf', { kind: 'audio', format: 'wav' })).toBe('office');
  });
});
