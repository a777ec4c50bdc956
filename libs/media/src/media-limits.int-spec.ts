// Media bombs against the real ffprobe and ffmpeg: pictures that only declare their size, playlists
// that point at local files, and a conversion that needs more memory than it may have.
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findTarget } from '@kiln/contracts';
import { buildConversion, type BuilderSettings } from './command-builder';
import { MediaError } from './media-error';
import { probe } from './probe';
import { run } from './runner';
import { makeDeclaredPng, makeImage, makeTempDir, watchFifo } from './testing';

jest.setTimeout(60_000);

const MiB = 1024 ** 2;
const MAX_PIXELS = 16384 * 8192;

describe('media limits with the real ffprobe and ffmpeg', () => {
  let tmp: { dir: string; remove: () => Promise<void> };

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-limits-');
  });

  afterAll(async () => {
    await tmp?.remove();
  });

  const rejection = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error('expected a rejection');
      },
      (e: unknown) => e as MediaError,
    );

  // First in this file: its run under a memory limit is this process's first ffmpeg run (fluent-ffmpeg
  // reads ffmpeg's capabilities on the first one, which must not go through prlimit).
  describe('while ffmpeg runs', () => {
    let big: string;
    beforeAll(async () => {
      // 48 MP in one flat colour: ~140 KB on disk, within the pixel limit, ~150 MB per decoded copy.
      big = await makeImage({ path: join(tmp.dir, 'flat-48mp.png'), width: 8000, height: 6000, solid: true });
    });

    const convert = async (settings: BuilderSettings, memoryLimitBytes: number | undefined) => {
      const info = await probe(big, { timeoutMs: 10_000 });
      const out = join(tmp.dir, `out-${memoryLimitBytes ?? 0}.jpg`);
      const plan = buildConversion(
        { target: findTarget('jpg')!, options: {}, input: info, inputPath: big, outputPath: out },
        settings,
      );
      if (plan.kind !== 'ok') throw new Error(plan.message);
      await run(plan.passes, { timeoutMs: 30_000, outputPath: out, memoryLimitBytes });
      return out;
    };

    it('a conversion that needs more than the memory limit fails unprocessable, naming the limit', async () => {
      const err = await rejection(convert({ threads: 1 }, 200 * MiB));
      expect(err).toMatchObject({ code: 'unprocessable', limit: 'memory' });
      expect(err.message).toMatch(
        /^memory limit exceeded: converting this input needs more than the 200 MiB ffmpeg may use \(KILN_FFMPEG_MEMORY_LIMIT\)/,
      );
      // The same conversion under the default limit works: the limit, not the input, stopped it.
      const out = await convert({ threads: 1 }, 4 * 1024 * MiB);
      expect((await stat(out)).size).toBeGreaterThan(0);
    });

    it("the decoder refuses a frame over the builder's pixel cap, naming the pixel limit", async () => {
      const err = await rejection(convert({ maxPixels: 1_000_000 }, undefined));
      expect(err).toMatchObject({ code: 'unprocessable', limit: 'pixels' });
      expect(err.message).toBe(
        'pixel limit exceeded: the picture is 8000×6000 (48.0 MP); at most 1.0 MP per frame (KILN_MAX_PIXELS)',
      );
    });
  });

  describe('a PNG declaring 16000×16000 at 16-bit RGBA', () => {
    let bomb: string;
    beforeAll(async () => {
      bomb = await makeDeclaredPng({ path: join(tmp.dir, 'input'), width: 16000, height: 16000 });
    });

    it('is a few dozen bytes on disk', async () => {
      expect((await stat(bomb)).size).toBeLessThan(200);
    });

    it('is refused from its header, naming the pixel limit', async () => {
      const err = await rejection(probe(bomb, { timeoutMs: 10_000, maxPixels: MAX_PIXELS }));
      expect(err).toBeInstanceOf(MediaError);
      expect(err).toMatchObject({ code: 'unprocessable', limit: 'pixels' });
      expect(err.message).toBe(
        'pixel limit exceeded: the picture is 16000×16000 (256.0 MP); at most 134.2 MP per frame (KILN_MAX_PIXELS)',
      );
    });

    it('is refused by ffprobe too, without ffprobe allocating the frame (it runs under 64 MiB)', async () => {
      const started = Date.now();
      const err = await rejection(
        probe(bomb, { timeoutMs: 10_000, maxPixels: MAX_PIXELS, sniffImages: false, memoryLimitBytes: 64 * MiB }),
      );
      expect(err).toMatchObject({ code: 'unprocessable', limit: 'pixels' });
      expect(err.message).toMatch(/^pixel limit exceeded: the picture is 16000×16000/);
      expect(Date.now() - started).toBeLessThan(10_000);
    });
  });

  describe('a playlist or list of files pointing at a local file', () => {
    it('an .m3u8 is refused as a playlist; the FIFO it names is never opened', async () => {
      const fifo = join(tmp.dir, `secret-${process.pid}.ts`);
      const watcher = await watchFifo(fifo);
      const playlist = join(tmp.dir, 'playlist');
      await writeFile(playlist, `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n${fifo}\n#EXT-X-ENDLIST\n`);
      const err = await rejection(probe(playlist, { timeoutMs: 5_000 }));
      const opened = await watcher.stop();
      expect(err).toMatchObject({ code: 'unprocessable' });
      expect(err.message).toMatch(/^input format not accepted: hls is a playlist or a list of other files/);
      expect(opened).toBe(0);
    });

    it('an ffconcat list is refused the same way', async () => {
      const fifo = join(tmp.dir, `list-${process.pid}.ts`);
      const watcher = await watchFifo(fifo);
      const list = join(tmp.dir, 'list');
      await writeFile(list, `ffconcat version 1.0\nfile list-${process.pid}.ts\n`);
      const err = await rejection(probe(list, { timeoutMs: 5_000 }));
      const opened = await watcher.stop();
      expect(err.message).toMatch(/^input format not accepted: concat is a playlist or a list of other files/);
      expect(opened).toBe(0);
    });

    it('ffmpeg itself refuses the playlist too (the conversion run has the same input options)', async () => {
      const fifo = join(tmp.dir, `run-${process.pid}.ts`);
      const watcher = await watchFifo(fifo);
      const playlist = join(tmp.dir, 'playlist-run');
      await writeFile(playlist, `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n${fifo}\n#EXT-X-ENDLIST\n`);
      // As if the probe had been fooled into calling it audio.
      const audio = {
        format: 'wav',
        duration_s: 10,
        size_bytes: 100,
        bit_rate: null,
        kind: 'audio' as const,
        width: null,
        height: null,
        fps: null,
        video_codec: null,
        audio_codec: 'pcm_s16le',
        audio_channels: 2,
        sample_rate: 44100,
        streams: { video: 0, audio: 1 },
        video_stream_index: null,
        audio_stream_index: 0,
      };
      const plan = buildConversion({
        target: findTarget('mp3')!,
        options: {},
        input: audio,
        inputPath: playlist,
        outputPath: join(tmp.dir, 'out.mp3'),
      });
      if (plan.kind !== 'ok') throw new Error(plan.message);
      const err = await rejection(run(plan.passes, { timeoutMs: 5_000, outputPath: join(tmp.dir, 'out.mp3') }));
      const opened = await watcher.stop();
      expect(err).toMatchObject({ code: 'unprocessable' });
      expect(err.message).toMatch(/^input format not accepted: hls/);
      expect(opened).toBe(0);
    });
  });
});
