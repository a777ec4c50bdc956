// The ffmpeg engine on the existing targets against the real ffmpeg/ffprobe: probe → limits →
// builder → runner behind the port. A conversion reports progress up to 100 and its one file; an
// abort mid-run rejects `canceled` and leaves nothing; a media bomb is refused from the probe with
// its limit before ffmpeg runs; an option that does not fit the input, a document, and options
// meant for another engine are handled as the port says.
import { join } from 'node:path';
import { makeTempDir, makeVideo } from '../../testing';
import { ffprobe, filesUnder, makeEngine, request } from './testing/engine-bench';

jest.setTimeout(60_000);

const engine = makeEngine();
let root: string;
let removeRoot: () => Promise<void>;
let clip: string;
let long: string;

beforeAll(async () => {
  ({ dir: root, remove: removeRoot } = await makeTempDir('kiln-engine-'));
  clip = await makeVideo({ path: join(root, 'clip.mp4'), audio: true, width: 320, height: 240, seconds: 3 });
  long = await makeVideo({ path: join(root, 'long.mp4'), audio: true, width: 1280, height: 720, seconds: 20 });
});
afterAll(async () => removeRoot());

const context = (extra: object = {}) => ({ signal: new AbortController().signal, timeoutMs: 50_000, ...extra });

describe('FfmpegEngine', () => {
  it('probes media into MediaInfo', async () => {
    const facts = await engine.probe(clip, { timeoutMs: 10_000 });
    expect(facts).toMatchObject({ kind: 'video', width: 320, height: 240, streams: { video: 1, audio: 1 } });
  });

  it('mp4 → mp3: one file named after baseName, progress rising to 100', async () => {
    const req = await request(engine, root, clip, 'mp3', { audio_bitrate: 96 });
    const progress: number[] = [];
    const { files } = await engine.convert(req, context({ onProgress: (p: number) => progress.push(p) }));
    expect(files).toEqual([{ path: join(req.outputDir, 'clip.mp3'), name: 'clip.mp3', contentType: 'audio/mpeg' }]);
    expect(await filesUnder(req.outputDir)).toEqual(['clip.mp3']);
    expect(progress.at(-1)).toBe(100);
    expect(progress).toEqual([...new Set(progress)].sort((a, b) => a - b));
    const probed = await ffprobe(files[0].path);
    expect(probed.streams.map((s) => s.codec_name)).toEqual(['mp3']);
    expect(Math.abs(Number(probed.format.duration) - 3)).toBeLessThan(0.15);
  });

  it.each(['mp4', 'hls'])('%s: an abort mid-run rejects canceled and leaves no file', async (target) => {
    const req = await request(engine, root, long, target);
    const abort = new AbortController();
    let started!: () => void;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    const converting = engine.convert(req, {
      signal: abort.signal,
      timeoutMs: 50_000,
      onProgress: (p) => {
        if (p > 0) started();
      },
    });
    await Promise.race([running, converting]);
    abort.abort();
    await expect(converting).rejects.toMatchObject({ code: 'canceled' });
    expect(await filesUnder(req.outputDir)).toEqual([]);
  });

  it('a media bomb is refused from the probe with its limit, before ffmpeg writes anything', async () => {
    const strict = makeEngine({ maxDurationS: 2 });
    const req = await request(strict, root, clip, 'mp4');
    await expect(strict.convert(req, context())).rejects.toMatchObject({
      code: 'unprocessable',
      limit: 'duration',
      message: expect.stringMatching(/^duration limit exceeded: .*KILN_MAX_DURATION_SECONDS/),
    });
    expect(await filesUnder(req.outputDir)).toEqual([]);
  });

  it('an option that does not fit the input is unprocessable with the builder message', async () => {
    const req = await request(engine, root, clip, 'mp3', { start: 10 });
    await expect(engine.convert(req, context())).rejects.toMatchObject({
      code: 'unprocessable',
      message: 'start (10 s) is at or past the end of the input (3.00 s)',
    });
  });

  it('ignores options meant for another engine (fit, strip) and reads its own (width, time)', async () => {
    const req = await request(engine, root, clip, 'png', { width: 160, time: 1, fit: 'cover', strip: false });
    const { files } = await engine.convert(req, context());
    const probed = await ffprobe(files[0].path);
    expect(probed.streams[0]).toMatchObject({ codec_name: 'png', width: 160, height: 120 });
  });

  it('refuses a document as unsupported_media_type', async () => {
    const req = await request(engine, root, clip, 'mp3');
    const facts = { kind: 'pdf' as const, format: 'pdf', size_bytes: 100, pages: 1 };
    await expect(engine.convert({ ...req, facts }, context())).rejects.toMatchObject({
      code: 'unsupported_media_type',
    });
  });
});
