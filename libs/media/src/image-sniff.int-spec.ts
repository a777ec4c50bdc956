// The header sniffer against real ffprobe: for every plain PNG and JPEG it must give exactly the
// MediaInfo that ffprobe gives; for everything else it must step aside (null).
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sniffImage } from './image-sniff';
import { probe } from './probe';
import { makeAudio, makeTempDir, makeVideo } from './testing';

jest.setTimeout(120_000);
const run = promisify(execFile);

let dir: string;
let remove: () => Promise<void>;

beforeAll(async () => {
  ({ dir, remove } = await makeTempDir('kiln-sniff-'));
});
afterAll(async () => remove?.());

/** One still from ffmpeg into an extension-less file, as the converter stores its input. */
async function still(name: string, size: string, args: string[], muxer: string): Promise<string> {
  const path = join(dir, name);
  await run('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${size}:rate=1`,
    '-frames:v',
    '1',
    ...args,
    '-f',
    muxer,
    path,
  ]);
  return path;
}

const ffprobeOnly = (path: string) => probe(path, { timeoutMs: 30_000, sniffImages: false });

describe('sniffImage gives what ffprobe gives for plain PNG and JPEG', () => {
  const cases: [string, string, string[], string][] = [
    ['png-rgb24', '96x96', ['-pix_fmt', 'rgb24', '-c:v', 'png'], 'image2pipe'],
    ['png-rgba', '320x240', ['-pix_fmt', 'rgba', '-c:v', 'png'], 'image2pipe'],
    ['png-gray', '33x17', ['-pix_fmt', 'gray', '-c:v', 'png'], 'image2pipe'],
    ['png-gray16', '64x48', ['-pix_fmt', 'gray16be', '-c:v', 'png'], 'image2pipe'],
    ['png-rgb48', '64x48', ['-pix_fmt', 'rgb48be', '-c:v', 'png'], 'image2pipe'],
    ['png-pal8', '80x60', ['-vf', 'format=pal8', '-c:v', 'png'], 'image2pipe'],
    ['png-2x2', '2x2', ['-c:v', 'png'], 'image2pipe'],
    ['png-large', '4000x3000', ['-c:v', 'png', '-compression_level', '0'], 'image2pipe'],
    ['jpeg-420', '96x96', ['-pix_fmt', 'yuvj420p', '-c:v', 'mjpeg'], 'image2pipe'],
    ['jpeg-444', '321x199', ['-pix_fmt', 'yuvj444p', '-c:v', 'mjpeg'], 'image2pipe'],
    ['jpeg-gray', '100x50', ['-pix_fmt', 'gray', '-c:v', 'mjpeg'], 'image2pipe'],
    ['jpeg-large', '4096x2160', ['-pix_fmt', 'yuvj420p', '-c:v', 'mjpeg', '-q:v', '3'], 'image2pipe'],
  ];
  it.each(cases)('%s', async (name, size, args, muxer) => {
    const path = await still(name, size, args, muxer);
    const sniffed = await sniffImage(path);
    expect(sniffed).not.toBeNull();
    expect(sniffed).toEqual(await ffprobeOnly(path));
    expect(await probe(path, { timeoutMs: 30_000 })).toEqual(sniffed); // the default path uses it
  });
});

describe('sniffImage steps aside for what it does not fully understand', () => {
  it('an animated PNG (acTL)', async () => {
    const path = join(dir, 'anim');
    await run('ffmpeg', [
      '-v',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=64x64:rate=5',
      '-frames:v',
      '3',
      '-plays',
      '0',
      '-f',
      'apng',
      path,
    ]);
    expect(await sniffImage(path)).toBeNull();
    expect((await probe(path, { timeoutMs: 30_000 })).format).toBe('apng'); // ffprobe's answer stands
  });

  it('a JPEG with an Exif segment (its orientation may rotate the displayed size)', async () => {
    const plain = await still('exif-src', '120x80', ['-c:v', 'mjpeg'], 'image2pipe');
    const bytes = await readFile(plain);
    // APP1 "Exif\0\0" + a minimal big-endian TIFF header with no entries, right after SOI.
    const tiff = Buffer.from([0x4d, 0x4d, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
    const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
    const app1 = Buffer.concat([
      Buffer.from([0xff, 0xe1]),
      Buffer.from([(payload.length + 2) >> 8, (payload.length + 2) & 0xff]),
      payload,
    ]);
    const path = join(dir, 'exif');
    await writeFile(path, Buffer.concat([bytes.subarray(0, 2), app1, bytes.subarray(2)]));
    expect(await sniffImage(path)).toBeNull();
    expect(await probe(path, { timeoutMs: 30_000 })).toMatchObject({ kind: 'image', width: 120, height: 80 });
  });

  it('video, audio, GIF, WebP, BMP, text, and a PNG cut inside its header', async () => {
    const paths = [
      await makeVideo({ path: join(dir, 'v.mp4'), seconds: 1, width: 64, height: 64, audio: false }),
      await makeAudio({ path: join(dir, 'a.wav'), seconds: 1, format: 'wav' }),
      await still('gif', '64x64', ['-c:v', 'gif'], 'gif'),
      await still('webp', '64x64', ['-c:v', 'libwebp'], 'webp'),
      await still('bmp', '64x64', ['-c:v', 'bmp'], 'image2pipe'),
    ];
    const text = join(dir, 'notes');
    await writeFile(text, 'not an image at all\n'.repeat(100));
    const png = await readFile(await still('cut-src', '64x64', ['-c:v', 'png'], 'image2pipe'));
    const cut = join(dir, 'cut');
    await writeFile(cut, png.subarray(0, 20)); // signature + part of IHDR
    for (const p of [...paths, text, cut]) expect(await sniffImage(p)).toBeNull();
  });

  it('a file name with an extension (ffprobe lets it choose the demuxer)', async () => {
    const jpg = join(dir, 'named.jpg');
    await writeFile(jpg, await readFile(await still('named-src', '64x64', ['-c:v', 'mjpeg'], 'image2pipe')));
    expect(await sniffImage(jpg)).toBeNull();
    expect((await probe(jpg, { timeoutMs: 30_000 })).format).toBe('image2');
  });
});
