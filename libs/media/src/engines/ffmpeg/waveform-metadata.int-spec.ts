// The waveform and metadata targets through the ffmpeg engine against the real ffmpeg/ffprobe: the
// waveform is a PNG of the asked size with the wave in the asked colour on a transparent background
// (a band per channel when split), an input without audio is refused; the metadata JSON holds
// ffprobe's own figures for the file, its tags and each stream.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { makeTempDir, makeVideo } from '../../testing';
import { ffprobe, filesUnder, makeEngine, makeWav, request } from './testing/engine-bench';

jest.setTimeout(60_000);

const engine = makeEngine();
let root: string;
let removeRoot: () => Promise<void>;
let clip: string;
let silent: string;
let leftOnly: string;

beforeAll(async () => {
  ({ dir: root, remove: removeRoot } = await makeTempDir('kiln-wave-'));
  clip = await makeVideo({
    path: join(root, 'clip.mp4'),
    audio: true,
    width: 320,
    height: 240,
    seconds: 2,
    metadata: { title: 'Kiln metadata test', artist: 'Kiln' },
  });
  silent = await makeVideo({ path: join(root, 'silent.mp4'), audio: false, width: 320, height: 240, seconds: 1 });
  leftOnly = await makeWav(join(root, 'left.wav'), 'sin(440*2*PI*t)|0', 2);
});
afterAll(async () => removeRoot());

const context = () => ({ signal: new AbortController().signal, timeoutMs: 30_000 });

/** The PNG's size, and its opaque pixels per band (top and bottom half) with their mean colour. */
async function picture(path: string) {
  const { data, info } = await sharp(path).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const opaque = { top: 0, bottom: 0 };
  const sum = [0, 0, 0];
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] === 0) continue;
    const row = Math.floor(i / 4 / info.width);
    opaque[row < info.height / 2 ? 'top' : 'bottom'] += 1;
    for (const c of [0, 1, 2]) sum[c] += data[i + c];
  }
  const n = opaque.top + opaque.bottom;
  return {
    width: info.width,
    height: info.height,
    channels: info.channels,
    hasAlpha: (await sharp(path).metadata()).hasAlpha,
    transparent: info.width * info.height - n,
    opaque,
    mean: sum.map((s) => (n ? s / n : 0)),
  };
}

describe('waveform', () => {
  it('a PNG of width × height: the wave in the colour on a transparent background', async () => {
    const req = await request(engine, root, clip, 'waveform', { width: 600, height: 120, color: 'green' });
    const { files } = await engine.convert(req, context());
    expect(files).toEqual([{ path: join(req.outputDir, 'clip.png'), name: 'clip.png', contentType: 'image/png' }]);
    const p = await picture(files[0].path);
    expect([p.width, p.height, p.hasAlpha]).toEqual([600, 120, true]);
    // Not blank: a steady sine fills a band across the whole width; the rest is transparent.
    expect(p.opaque.top + p.opaque.bottom).toBeGreaterThan(600 * 10);
    expect(p.transparent).toBeGreaterThan(0);
    // ffmpeg's green is #008000 (showwavespic's first default colour is red).
    const [r, g, b] = p.mean;
    expect(g).toBeGreaterThan(100);
    expect(r).toBeLessThan(40);
    expect(b).toBeLessThan(40);
  });

  it('split_channels draws each channel in its own band: sound left, silence right', async () => {
    const split = await request(engine, root, leftOnly, 'waveform', { split_channels: true, width: 400, height: 200 });
    const p = await picture((await engine.convert(split, context())).files[0].path);
    expect(p.opaque.top).toBeGreaterThan(400 * 10);
    expect(p.opaque.bottom).toBeLessThan(p.opaque.top / 20);
    // One mix (the default): the same file drawn once across the middle, in both halves.
    const mixed = await request(engine, root, leftOnly, 'waveform', { width: 400, height: 200 });
    const m = await picture((await engine.convert(mixed, context())).files[0].path);
    expect(m.opaque.bottom).toBeGreaterThan(400 * 5);
    expect(Math.abs(m.opaque.top - m.opaque.bottom)).toBeLessThan((m.opaque.top + m.opaque.bottom) / 4);
    // Blue unless told.
    expect(m.mean[2]).toBeGreaterThan(200);
  });

  it('an input without audio is refused (unsupported_media_type), nothing written', async () => {
    const req = await request(engine, root, silent, 'waveform');
    await expect(engine.convert(req, context())).rejects.toMatchObject({
      code: 'unsupported_media_type',
      message: expect.stringMatching(/^input has no audio stream; waveform needs audio/),
    });
    expect(await filesUnder(req.outputDir)).toEqual([]);
  });
});

describe('metadata', () => {
  it("writes <baseName>.json with ffprobe's own figures, tags and streams, beside the normalised probe", async () => {
    const req = await request(engine, root, clip, 'metadata');
    const progress: number[] = [];
    const { files } = await engine.convert(req, { ...context(), onProgress: (p) => progress.push(p) });
    expect(files).toEqual([
      { path: join(req.outputDir, 'clip.json'), name: 'clip.json', contentType: 'application/json' },
    ]);
    expect(progress.at(-1)).toBe(100);
    const report = JSON.parse(await readFile(files[0].path, 'utf8'));
    const own = await ffprobe(clip);

    // The normalised part is the engine's probe of the same file.
    expect(report).toMatchObject(req.facts);
    expect(report.duration_s).toBeCloseTo(Number(own.format.duration), 6);
    expect(report.size_bytes).toBe(Number(own.format.size));
    expect(report.bit_rate).toBe(Number(own.format.bit_rate));
    expect(report.format_long_name).toBe(own.format.format_long_name);
    expect(report.tags).toEqual(own.format.tags);
    expect(report.tags).toMatchObject({ title: 'Kiln metadata test', artist: 'Kiln' });

    expect(report.stream_details).toHaveLength(own.streams.length);
    for (const [i, s] of own.streams.entries()) {
      const mine = report.stream_details[i];
      expect(mine).toMatchObject({
        index: s.index,
        type: s.codec_type,
        codec: s.codec_name,
        duration_s: Number(s.duration),
        bit_rate: Number(s.bit_rate),
        tags: s.tags ?? {},
      });
      if (s.codec_type === 'video') expect(mine).toMatchObject({ width: s.width, height: s.height, frame_rate: 25 });
      if (s.codec_type === 'audio')
        expect(mine).toMatchObject({ sample_rate: Number(s.sample_rate), channels: s.channels, width: null });
    }
  });

  it('describes an audio file and a still image too', async () => {
    for (const [input, kind] of [
      [leftOnly, 'audio'],
      [join(root, 'still.png'), 'image'],
    ] as const) {
      if (kind === 'image')
        await sharp({ create: { width: 64, height: 48, channels: 3, background: '#f00' } })
          .png()
          .toFile(input);
      const req = await request(engine, root, input, 'metadata');
      const report = JSON.parse(await readFile((await engine.convert(req, context())).files[0].path, 'utf8'));
      const own = await ffprobe(input);
      expect(report.kind).toBe(kind);
      expect(report.format).toBe(own.format.format_name);
      expect(report.stream_details.map((s: { codec: string }) => s.codec)).toEqual(
        own.streams.map((s) => s.codec_name),
      );
    }
  });
});
