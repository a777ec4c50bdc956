// The libvips engine against real sharp/libvips: every vips target, resizing, quality, metadata,
// rotation, animation, the header checks that refuse bombs without decoding them, damaged input,
// cancel, timeout and the output cap. Every input is made here with sharp itself; every output is
// read back with sharp's metadata.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ConversionOptions, findTarget } from '@kiln/contracts';
import sharp from 'sharp';
import { MediaError } from '../../media-error';
import type { MediaInfo } from '../../media-info';
import { makeDeclaredPng, makeNonMedia, makeTempDir } from '../../testing';
import type { EngineResult, EngineRunContext } from '../engine';
import { VipsEngine } from './vips-engine';

jest.setTimeout(120_000);

const MAX_PIXELS = 16384 * 8192; // KILN_MAX_PIXELS' default
const MiB = 1024 ** 2;

let dir: string;
let remove: () => Promise<void>;
let engine: VipsEngine;
/** Output paths libvips has been handed, newest last. */
const started: string[] = [];
const input: Record<string, string> = {};

/** Three 40×30 frames, red, green, blue, 100 ms each. */
async function animation(format: 'gif' | 'webp', path: string): Promise<string> {
  const frames = await Promise.all(
    ['red', 'lime', 'blue'].map((c) =>
      sharp({ create: { width: 40, height: 30, channels: 3, background: c } })
        .raw()
        .toBuffer(),
    ),
  );
  await sharp(Buffer.concat(frames), { raw: { width: 40, height: 90, channels: 3, pageHeight: 30 } })
    .toFormat(format, { delay: [100, 100, 100], loop: 0 })
    .toFile(path);
  return path;
}

beforeAll(async () => {
  ({ dir, remove } = await makeTempDir('kiln-vips-'));
  engine = new VipsEngine({ maxPixels: MAX_PIXELS, onWorkStart: (path) => started.push(path) });
  // The converter stores inputs without an extension: so are these.
  input.photo = join(dir, 'photo');
  await sharp({
    create: {
      width: 320,
      height: 240,
      channels: 3,
      background: '#808080',
      noise: { type: 'gaussian', mean: 128, sigma: 40 },
    },
  })
    .png()
    .toFile(input.photo);
  input.exif = join(dir, 'exif');
  await sharp({ create: { width: 200, height: 100, channels: 3, background: '#c04020' } })
    .jpeg()
    .withExif({ IFD0: { Copyright: 'Kiln test picture' } })
    .withMetadata({ orientation: 6 })
    .toFile(input.exif);
  input.gif = await animation('gif', join(dir, 'anim-gif'));
  input.webp = await animation('webp', join(dir, 'anim-webp'));
  input.bomb = await makeDeclaredPng({ path: join(dir, 'bomb'), width: 60000, height: 60000 });
  const jpeg = await sharp({
    create: {
      width: 800,
      height: 600,
      channels: 3,
      background: '#808080',
      noise: { type: 'gaussian', mean: 128, sigma: 30 },
    },
  })
    .jpeg()
    .toBuffer();
  input.truncated = join(dir, 'truncated');
  await writeFile(input.truncated, jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  const png = await sharp(input.photo).png().toBuffer();
  input.brokenPng = join(dir, 'broken-png');
  await writeFile(input.brokenPng, Buffer.concat([png.subarray(0, 40), Buffer.alloc(200, 0x55)]));
  input.junk = await makeNonMedia(join(dir, 'junk'));
  // 12 MP of noise: resized to 7680×4320 PNG it keeps libvips busy for a second or more.
  input.big = join(dir, 'big');
  await sharp({
    create: {
      width: 4000,
      height: 3000,
      channels: 3,
      background: '#808080',
      noise: { type: 'gaussian', mean: 128, sigma: 60 },
    },
  })
    .png({ compressionLevel: 0 })
    .toFile(input.big);
  // One flat colour, 8000×6000: a WebP of it is written only once libvips has encoded it all.
  input.flat = join(dir, 'flat');
  await sharp({ create: { width: 8000, height: 6000, channels: 3, background: '#336699' } })
    .png({ compressionLevel: 1 })
    .toFile(input.flat);
});

afterAll(async () => {
  await engine?.close();
  await remove?.();
});

const PROBE = { timeoutMs: 10_000 };
const BIG_RESIZE: ConversionOptions = { width: 7680, height: 4320, fit: 'fill' };

interface Run {
  result: EngineResult;
  outputDir: string;
  progress: number[];
}

function context(overrides: Partial<EngineRunContext> = {}, progress: number[] = []): EngineRunContext {
  return {
    signal: new AbortController().signal,
    timeoutMs: 60_000,
    onProgress: (p) => progress.push(p),
    ...overrides,
  };
}

async function convert(
  target: string,
  from: string,
  options: ConversionOptions = {},
  overrides: Partial<EngineRunContext> = {},
  using: VipsEngine = engine,
): Promise<Run> {
  const spec = findTarget(target);
  if (!spec) throw new Error(`no target ${target}`);
  const outputDir = await mkdtemp(join(dir, 'out-'));
  const facts = await using.probe(from, PROBE);
  const progress: number[] = [];
  const result = await using.convert(
    { target: spec, options, inputPath: from, outputDir, baseName: 'result', facts },
    context(overrides, progress),
  );
  return { result, outputDir, progress };
}

/** Starts a conversion without awaiting it; its output folder is known at once. */
async function start(target: string, from: string, options: ConversionOptions, overrides: Partial<EngineRunContext>) {
  const spec = findTarget(target);
  if (!spec) throw new Error(`no target ${target}`);
  const outputDir = await mkdtemp(join(dir, 'out-'));
  const facts = await engine.probe(from, PROBE);
  const outputPath = join(outputDir, `result.${spec.extension}`);
  const done = engine.convert(
    { target: spec, options, inputPath: from, outputDir, baseName: 'result', facts },
    context(overrides),
  );
  return { done, outputDir, outputPath };
}

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<MediaError> {
  const outcome = await promise.then(
    () => null,
    (err: unknown) => err,
  );
  if (!(outcome instanceof MediaError)) throw new Error(`expected a MediaError, got ${String(outcome)}`);
  return outcome;
}

/** Polls until `condition` holds (e.g. libvips has opened its output). */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('the expected state never came');
    await new Promise((r) => setImmediate(r));
  }
}

function only(run: Run) {
  expect(run.result.files).toHaveLength(1);
  return run.result.files[0];
}

describe('probe', () => {
  it('describes a PNG from its header', async () => {
    const info = (await engine.probe(input.photo, PROBE)) as MediaInfo;
    expect(info).toEqual({
      format: 'png',
      duration_s: null,
      size_bytes: (await stat(input.photo)).size,
      bit_rate: null,
      kind: 'image',
      width: 320,
      height: 240,
      fps: null,
      video_codec: 'png',
      audio_codec: null,
      audio_channels: null,
      sample_rate: null,
      streams: { video: 1, audio: 0 },
      video_stream_index: 0,
      audio_stream_index: null,
    });
  });

  it('gives the displayed size of an EXIF-rotated JPEG (orientation 6 swaps the sides)', async () => {
    expect((await sharp(input.exif).metadata()).orientation).toBe(6);
    const info = (await engine.probe(input.exif, PROBE)) as MediaInfo;
    expect(info).toMatchObject({ format: 'jpeg', kind: 'image', width: 100, height: 200, video_codec: 'mjpeg' });
  });

  it.each(['gif', 'webp'])('describes an animated %s as 3 frames over 0.3 s', async (format) => {
    const info = (await engine.probe(input[format], PROBE)) as MediaInfo;
    expect(info).toMatchObject({ format, kind: 'image', width: 40, height: 30, duration_s: 0.3, fps: 10 });
  });

  it('refuses damaged bytes as unprocessable and non-images as unsupported', async () => {
    const broken = await rejection(engine.probe(input.brokenPng, PROBE));
    expect(broken.code).toBe('unprocessable');
    expect(broken.message).toMatch(/^the image could not be read: .*corrupt header/);
    const junk = await rejection(engine.probe(input.junk, PROBE));
    expect(junk.code).toBe('unsupported_media_type');
  });
});

describe('every vips target', () => {
  it.each([
    ['png', 'png', 'image/png'],
    ['jpg', 'jpeg', 'image/jpeg'],
    ['webp', 'webp', 'image/webp'],
    ['avif', 'heif', 'image/avif'],
    ['tiff', 'tiff', 'image/tiff'],
    ['gif', 'gif', 'image/gif'],
  ])('%s', async (target, format, contentType) => {
    const run = await convert(target, input.photo, target === 'avif' ? { effort: 0 } : {});
    const file = only(run);
    const ext = findTarget(target)?.extension;
    expect(file).toEqual({ path: join(run.outputDir, `result.${ext}`), name: `result.${ext}`, contentType });
    expect(await readdir(run.outputDir)).toEqual([`result.${ext}`]);
    const m = await sharp(file.path).metadata();
    expect(m).toMatchObject({ format, width: 320, height: 240 });
    if (target === 'avif') expect(m.compression).toBe('av1');
    if (target === 'png' || target === 'tiff') {
      // Lossless (a TIFF too: not sharp's default JPEG inside the TIFF).
      const source = await sharp(input.photo).raw().toBuffer();
      expect((await sharp(file.path).raw().toBuffer()).equals(source)).toBe(true);
    }
    expect(run.progress).toEqual([0, 100]);
  });

  it("ignores other engines' options (time, page, dpi)", async () => {
    const run = await convert('jpg', input.photo, { time: 5, page: 2, dpi: 300 });
    expect(await sharp(only(run).path).metadata()).toMatchObject({ format: 'jpeg', width: 320, height: 240 });
  });
});

describe('resizing', () => {
  it.each([
    ['inside', 100, 75],
    ['contain', 100, 100],
    ['cover', 100, 100],
    ['fill', 100, 100],
    ['outside', 133, 100],
  ])('fit %s into 100×100 gives %i×%i', async (fit, width, height) => {
    const run = await convert('png', input.photo, { width: 100, height: 100, fit });
    const out = sharp(only(run).path);
    expect(await out.metadata()).toMatchObject({ width, height });
    // contain letterboxes (transparent bands above and below); the others fill every pixel.
    const { data } = await out.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    expect(data[3]).toBe(fit === 'contain' ? 0 : 255);
  });

  it('keeps the aspect ratio when one side is given, and enlarges', async () => {
    const run = await convert('jpg', input.photo, { width: 640 });
    expect(await sharp(only(run).path).metadata()).toMatchObject({ width: 640, height: 480 });
  });
});

describe('encoder options', () => {
  it.each(['jpg', 'webp', 'avif'])('%s: a lower quality makes a smaller file', async (target) => {
    const low = await convert(target, input.photo, { quality: 10 });
    const high = await convert(target, input.photo, { quality: 95 });
    const lowSize = (await stat(only(low).path)).size;
    const highSize = (await stat(only(high).path)).size;
    expect(lowSize).toBeLessThan(highSize * 0.7);
  });

  it('webp lossless gives back the exact pixels; lossy does not', async () => {
    const source = await sharp(input.photo).raw().toBuffer();
    const lossless = await convert('webp', input.photo, { lossless: true });
    const lossy = await convert('webp', input.photo);
    expect((await sharp(only(lossless).path).raw().toBuffer()).equals(source)).toBe(true);
    expect((await sharp(only(lossy).path).raw().toBuffer()).equals(source)).toBe(false);
  });

  it('avif effort reaches the encoder (effort 0 and 9 give different files)', async () => {
    const fast = await convert('avif', input.photo, { effort: 0 });
    const slow = await convert('avif', input.photo, { effort: 9 });
    expect((await stat(only(fast).path)).size).not.toBe((await stat(only(slow).path)).size);
  });
});

describe('metadata and rotation', () => {
  it('strips metadata by default and keeps it with strip: false', async () => {
    const stripped = await sharp(only(await convert('jpg', input.exif)).path).metadata();
    expect(stripped.exif).toBeUndefined();
    expect(stripped.icc).toBeUndefined();
    expect(stripped.xmp).toBeUndefined();
    const kept = await sharp(only(await convert('jpg', input.exif, { strip: false })).path).metadata();
    expect(kept.exif?.includes('Kiln test picture')).toBe(true);
  });

  it('turns the picture upright by EXIF and drops the tag (also when metadata is kept)', async () => {
    const upright = await sharp(only(await convert('png', input.exif)).path).metadata();
    expect(upright).toMatchObject({ width: 100, height: 200 });
    expect(upright.orientation).toBeUndefined();
    const kept = await sharp(only(await convert('jpg', input.exif, { strip: false })).path).metadata();
    expect(kept).toMatchObject({ width: 100, height: 200 });
    expect(kept.orientation ?? 1).toBe(1);
  });

  it('auto_rotate: false leaves the pixels as stored (and the tag, when metadata is kept)', async () => {
    const asStored = await sharp(only(await convert('jpg', input.exif, { auto_rotate: false })).path).metadata();
    expect(asStored).toMatchObject({ width: 200, height: 100 });
    expect(asStored.orientation).toBeUndefined();
    const tagged = await sharp(
      only(await convert('jpg', input.exif, { auto_rotate: false, strip: false })).path,
    ).metadata();
    expect(tagged).toMatchObject({ width: 200, height: 100, orientation: 6 });
  });
});

describe('animation', () => {
  it.each([
    ['gif', 'gif'],
    ['gif', 'webp'],
    ['webp', 'webp'],
    ['webp', 'gif'],
  ])('%s → %s keeps every frame', async (from, target) => {
    const run = await convert(target, input[from]);
    const m = await sharp(only(run).path, { animated: true }).metadata();
    expect(m).toMatchObject({ format: target, width: 40, pages: 3, pageHeight: 30, delay: [100, 100, 100] });
  });

  it('resizes every frame', async () => {
    const run = await convert('gif', input.gif, { width: 20 });
    const m = await sharp(only(run).path, { animated: true }).metadata();
    expect(m).toMatchObject({ width: 20, pages: 3, pageHeight: 15 });
  });

  it.each(['png', 'jpg', 'avif', 'tiff'])('gif → %s takes the first frame', async (target) => {
    const run = await convert(target, input.gif, target === 'avif' ? { effort: 0 } : {});
    const out = sharp(only(run).path);
    const m = await out.metadata();
    expect(m).toMatchObject({ width: 40, height: 30 });
    expect(m.pages ?? 1).toBe(1);
    const { data } = await out.raw().toBuffer({ resolveWithObject: true });
    expect(data[0]).toBeGreaterThan(200); // red, the first frame
    expect(data[2]).toBeLessThan(60);
  });

  it('refuses an animation whose frames together pass the pixel limit, but converts its first frame', async () => {
    const tight = new VipsEngine({ maxPixels: 40 * 30 * 2 });
    const err = await rejection(convert('gif', input.gif, {}, {}, tight));
    expect(err.code).toBe('unprocessable');
    expect(err.limit).toBe('pixels');
    expect(err.message).toMatch(/^pixel limit exceeded: the animation is 3 frames of 40×30 .*KILN_MAX_PIXELS/);
    const still = await convert('png', input.gif, {}, {}, tight);
    expect(await sharp(only(still).path).metadata()).toMatchObject({ width: 40, height: 30 });
  });
});

describe('bombs and damaged input', () => {
  it('refuses a PNG declaring 60000×60000 from its header, without decoding it', async () => {
    const before = process.memoryUsage().rss;
    const probeErr = await rejection(engine.probe(input.bomb, PROBE));
    expect(probeErr.code).toBe('unprocessable');
    expect(probeErr.limit).toBe('pixels');
    expect(probeErr.message).toMatch(/^pixel limit exceeded: the picture is 60000×60000 .*KILN_MAX_PIXELS/);

    const spec = findTarget('png');
    if (!spec) throw new Error('no png target');
    const outputDir = await mkdtemp(join(dir, 'out-'));
    const facts = (await engine.probe(input.photo, PROBE)) as MediaInfo; // the handler would never get here
    const convertErr = await rejection(
      engine.convert(
        { target: spec, options: {}, inputPath: input.bomb, outputDir, baseName: 'result', facts },
        context(),
      ),
    );
    expect(convertErr.code).toBe('unprocessable');
    expect(convertErr.limit).toBe('pixels');
    expect(convertErr.message).toMatch(/60000×60000/);
    expect(await readdir(outputDir)).toEqual([]);
    expect(process.memoryUsage().rss - before).toBeLessThan(40 * MiB);
  });

  it('refuses a truncated JPEG as unprocessable, with libvips reason, and leaves no file', async () => {
    const { done, outputDir } = await start('png', input.truncated, {}, {});
    const err = await rejection(done);
    expect(err.code).toBe('unprocessable');
    expect(err.message).toBe('the image could not be converted: premature end of JPEG image');
    expect(await readdir(outputDir)).toEqual([]);
  });
});

describe('stopping', () => {
  it('cancel while libvips works: rejects canceled at once and leaves no file', async () => {
    const abort = new AbortController();
    const { done, outputDir, outputPath } = await start('png', input.big, BIG_RESIZE, { signal: abort.signal });
    await until(() => existsSync(outputPath)); // libvips is writing
    const abortedAt = Date.now();
    abort.abort();
    const err = await rejection(done);
    const rejectedAt = Date.now();
    expect(err.code).toBe('canceled');
    expect(rejectedAt - abortedAt).toBeLessThan(1000);
    expect(existsSync(outputPath)).toBe(false);
    await engine.close(); // libvips has finished: nothing came back
    // The answer came while libvips was still at work, not when it was done.
    expect(Date.now() - rejectedAt).toBeGreaterThan(200);
    expect(await readdir(outputDir)).toEqual([]);
  });

  it('cancel before libvips has created the file: the file it writes afterwards is removed too', async () => {
    const abort = new AbortController();
    const { done, outputDir, outputPath } = await start('webp', input.flat, BIG_RESIZE, { signal: abort.signal });
    await until(() => started.includes(outputPath)); // handed to libvips
    expect(existsSync(outputPath)).toBe(false); // libvips has not written it yet
    abort.abort();
    const err = await rejection(done);
    const rejectedAt = Date.now();
    expect(err.code).toBe('canceled');
    await engine.close();
    expect(Date.now() - rejectedAt).toBeGreaterThan(200);
    expect(await readdir(outputDir)).toEqual([]);
  });

  it('cancel before the start: canceled, nothing written', async () => {
    const abort = new AbortController();
    abort.abort();
    const { done, outputDir } = await start('png', input.photo, {}, { signal: abort.signal });
    expect((await rejection(done)).code).toBe('canceled');
    await engine.close();
    expect(await readdir(outputDir)).toEqual([]);
  });

  it('past the deadline: timeout, no file', async () => {
    const { done, outputDir } = await start('png', input.big, BIG_RESIZE, { timeoutMs: 200 });
    const err = await rejection(done);
    expect(err.code).toBe('timeout');
    await engine.close();
    expect(await readdir(outputDir)).toEqual([]);
  });

  it('output past the cap at the end: payload_too_large, file removed', async () => {
    const { done, outputDir } = await start(
      'png',
      input.photo,
      {},
      {
        maxOutputBytes: 1000,
        maxOutputDescription: '1000 bytes (test cap)',
      },
    );
    const err = await rejection(done);
    expect(err.code).toBe('payload_too_large');
    expect(err.limit).toBe('output_size');
    expect(err.message).toBe('output size limit exceeded: the output grew past 1000 bytes (test cap)');
    expect(await readdir(outputDir)).toEqual([]);
  });

  it('output growing past the cap while libvips writes: stopped before libvips is done', async () => {
    const { done, outputDir, outputPath } = await start('png', input.big, BIG_RESIZE, { maxOutputBytes: MiB });
    const err = await rejection(done);
    const rejectedAt = Date.now();
    expect(err.code).toBe('payload_too_large');
    expect(existsSync(outputPath)).toBe(false);
    await engine.close();
    expect(Date.now() - rejectedAt).toBeGreaterThan(200);
    expect(await readdir(outputDir)).toEqual([]);
  });
});
