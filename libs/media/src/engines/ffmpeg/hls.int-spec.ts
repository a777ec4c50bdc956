// The hls target through the ffmpeg engine against the real ffmpeg/ffprobe: the master playlist
// (the first file) names each rendition no taller than the input, every rendition's playlist plays
// for the input's length at its height, segments are cut at the asked length on keyframes at the
// same times in every rendition, every file written is reported, and the size cap counts them all.
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { EngineResult } from '../engine';
import { makeTempDir, makeVideo } from '../../testing';
import { ffprobe, filesUnder, firstFrameIsKey, makeEngine, request } from './testing/engine-bench';

jest.setTimeout(60_000);

const engine = makeEngine();
let root: string;
let removeRoot: () => Promise<void>;
let hd: string;
let sd: string;
const SECONDS = 5;

beforeAll(async () => {
  ({ dir: root, remove: removeRoot } = await makeTempDir('kiln-hls-'));
  hd = await makeVideo({ path: join(root, 'hd.mp4'), audio: true, width: 1280, height: 720, seconds: SECONDS });
  sd = await makeVideo({ path: join(root, 'sd.mp4'), audio: true, width: 854, height: 480, seconds: SECONDS });
});
afterAll(async () => removeRoot());

const context = (extra: object = {}) => ({ signal: new AbortController().signal, timeoutMs: 50_000, ...extra });

/** The URI lines of a playlist, and its EXTINF durations. */
async function playlist(path: string): Promise<{ uris: string[]; durations: number[]; lines: string[] }> {
  const lines = (await readFile(path, 'utf8')).split('\n').filter(Boolean);
  return {
    lines,
    uris: lines.filter((l) => !l.startsWith('#')),
    durations: lines.filter((l) => l.startsWith('#EXTINF:')).map((l) => Number(l.slice(8).split(',')[0])),
  };
}

describe('hls', () => {
  let result: EngineResult;
  let dir: string;
  const progress: number[] = [];

  beforeAll(async () => {
    const req = await request(engine, root, hd, 'hls', { renditions: '360p,720p', segment_duration: 2 });
    dir = req.outputDir;
    result = await engine.convert(req, context({ onProgress: (p: number) => progress.push(p) }));
  });

  it('reports the master playlist first, then every file it wrote, each with its content type', async () => {
    expect(result.files[0]).toEqual({
      path: join(dir, 'clip.m3u8'),
      name: 'clip.m3u8',
      contentType: 'application/vnd.apple.mpegurl',
    });
    expect(result.files.map((f) => f.name).sort()).toEqual(await filesUnder(dir));
    for (const f of result.files) {
      expect(f.path).toBe(join(dir, f.name));
      expect(f.contentType).toBe(f.name.endsWith('.ts') ? 'video/mp2t' : 'application/vnd.apple.mpegurl');
    }
    expect(result.files.map((f) => f.name)).toEqual(
      expect.arrayContaining(['360p/index.m3u8', '360p/segment_000.ts', '720p/index.m3u8', '720p/segment_000.ts']),
    );
    expect(progress.at(-1)).toBe(100);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.some((p) => p > 0 && p < 100)).toBe(true);
  });

  it('the master names both renditions by relative URI, and ffprobe reads them at 360 and 720 lines', async () => {
    const master = await playlist(join(dir, 'clip.m3u8'));
    expect(master.uris).toEqual(['360p/index.m3u8', '720p/index.m3u8']);
    const inf = master.lines.filter((l) => l.startsWith('#EXT-X-STREAM-INF:'));
    expect(inf[0]).toMatch(/RESOLUTION=640x360/);
    expect(inf[1]).toMatch(/RESOLUTION=1280x720/);
    for (const line of inf) expect(line).toMatch(/BANDWIDTH=\d+.*CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/);

    const probed = await ffprobe(`file:${join(dir, 'clip.m3u8')}`, ['-allowed_extensions', 'ALL']);
    const heights = probed.streams.filter((s) => s.codec_type === 'video').map((s) => s.height);
    expect(heights.sort()).toEqual([360, 720]);
  });

  it.each([
    ['360p', 640, 360],
    ['720p', 1280, 720],
  ])('the %s playlist plays for the input length at its size, H.264 + AAC', async (name, width, height) => {
    const probed = await ffprobe(`file:${join(dir, name, 'index.m3u8')}`, ['-allowed_extensions', 'ALL']);
    expect(Math.abs(Number(probed.format.duration) - SECONDS)).toBeLessThan(0.25);
    const video = probed.streams.find((s) => s.codec_type === 'video');
    expect(video).toMatchObject({ codec_name: 'h264', width, height });
    expect(probed.streams.find((s) => s.codec_type === 'audio')).toMatchObject({ codec_name: 'aac', channels: 2 });
  });

  it('segments are segment_duration long, cut at the same times in every rendition, each opening on a keyframe', async () => {
    const low = await playlist(join(dir, '360p', 'index.m3u8'));
    const high = await playlist(join(dir, '720p', 'index.m3u8'));
    expect(low.durations).toEqual(high.durations);
    expect(low.durations.length).toBe(Math.ceil(SECONDS / 2));
    for (const d of low.durations.slice(0, -1)) expect(Math.abs(d - 2)).toBeLessThan(0.05);
    expect(Math.abs(low.durations.reduce((a, b) => a + b, 0) - SECONDS)).toBeLessThan(0.1);
    for (const name of ['360p', '720p']) {
      for (const uri of (name === '360p' ? low : high).uris) {
        expect(await firstFrameIsKey(join(dir, name, uri))).toBe(true);
      }
    }
  });

  it('an input of 480 lines with 360p,720p gives 360p only; start and duration trim it', async () => {
    const req = await request(engine, root, sd, 'hls', { renditions: '360p,720p', start: 1, duration: 2 });
    const { files } = await engine.convert(req, context());
    expect(await filesUnder(req.outputDir)).not.toContain('720p/index.m3u8');
    expect((await playlist(join(req.outputDir, 'clip.m3u8'))).uris).toEqual(['360p/index.m3u8']);
    expect(files.filter((f) => f.name.endsWith('.m3u8')).map((f) => f.name)).toEqual(['clip.m3u8', '360p/index.m3u8']);
    const probed = await ffprobe(`file:${join(req.outputDir, '360p', 'index.m3u8')}`);
    expect(Math.abs(Number(probed.format.duration) - 2)).toBeLessThan(0.25);
    expect(probed.streams.find((s) => s.codec_type === 'video')).toMatchObject({ width: 640, height: 360 });
  });

  it('the output cap counts every file: above the largest one, below their sum, it refuses and leaves nothing', async () => {
    const sizes = await Promise.all(result.files.map(async (f) => (await stat(f.path)).size));
    const largest = Math.max(...sizes);
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(largest).toBeLessThan(total / 2);
    const cap = Math.floor((largest + total) / 2);
    const req = await request(engine, root, hd, 'hls', { renditions: '360p,720p', segment_duration: 2 });
    await expect(engine.convert(req, context({ maxOutputBytes: cap }))).rejects.toMatchObject({
      code: 'payload_too_large',
      limit: 'output_size',
    });
    expect(await filesUnder(req.outputDir)).toEqual([]);
    await rm(req.outputDir, { recursive: true });
  });
});
