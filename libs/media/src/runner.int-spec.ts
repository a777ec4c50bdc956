/**
 * The media lib against the real ffmpeg/ffprobe: every catalog target converts a small generated
 * input, and the runner's limits (timeout, abort, size cap) really stop the process.
 */
import { execFile } from 'node:child_process';
import { chmod, readFile, stat, truncate, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CATALOG, findTarget, type ConversionOptions } from '@kiln/contracts';
import {
  buildConversion,
  MediaError,
  probe,
  run,
  runningProcessCount,
  type FfmpegPass,
  type MediaInfo,
  type RunOptions,
} from './index';
import { makeAudio, makeImage, makeNonMedia, makeTempDir, makeVideo } from './testing';

const FFMPEG = 'ffmpeg';
const PROBE = { timeoutMs: 10_000 };

jest.setTimeout(30_000);

let dir: string;
let removeDir: () => Promise<void>;
const inputs: Record<'video' | 'silent' | 'audio' | 'image', { path: string; info: MediaInfo }> = {} as never;

beforeAll(async () => {
  ({ dir, remove: removeDir } = await makeTempDir());
  const paths = {
    video: await makeVideo({ path: join(dir, 'video.mp4'), seconds: 2, width: 320, height: 240, audio: true }),
    silent: await makeVideo({ path: join(dir, 'silent.mkv'), seconds: 2, width: 320, height: 240, audio: false }),
    audio: await makeAudio({ path: join(dir, 'audio.wav'), seconds: 2, format: 'wav' }),
    image: await makeImage({ path: join(dir, 'image.png'), width: 320, height: 240 }),
  };
  for (const [name, path] of Object.entries(paths)) {
    inputs[name as keyof typeof inputs] = { path, info: await probe(path, PROBE) };
  }
});

afterAll(async () => {
  await removeDir?.();
});

let outputs = 0;
function outputPath(extension: string): string {
  outputs += 1;
  return join(dir, `out-${outputs}.${extension}`);
}

async function convert(
  targetName: string,
  inputName: keyof typeof inputs | { path: string; info: MediaInfo },
  options: ConversionOptions = {},
  runOptions: Partial<RunOptions> = {},
): Promise<{ path: string; info: MediaInfo; raw: RawProbe }> {
  const target = findTarget(targetName)!;
  const path = outputPath(target.extension);
  const input = typeof inputName === 'string' ? inputs[inputName] : inputName;
  const plan = buildConversion(
    { target, options, input: input.info, inputPath: input.path, outputPath: path },
    { preset: 'ultrafast', threads: 2 },
  );
  if (plan.kind !== 'ok') throw new Error(`${targetName}: ${plan.message}`);
  await run(plan.passes, {
    timeoutMs: 20_000,
    outputPath: path,
    durationS: plan.expectedDurationS,
    ffmpegPath: FFMPEG,
    ...runOptions,
  });
  return { path, info: await probe(path, PROBE), raw: await rawProbe(path) };
}

interface RawProbe {
  format: { format_name: string; tags?: Record<string, string> };
  streams: Array<{ codec_type: string; codec_name: string; channels?: number; sample_rate?: string; pix_fmt?: string }>;
}

function rawProbe(path: string): Promise<RawProbe> {
  return new Promise((resolve, reject) => {
    execFile('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', path], (err, out) =>
      err ? reject(err) : resolve(JSON.parse(out) as RawProbe),
    );
  });
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err: unknown) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

describe('fixtures + probe', () => {
  it('generates and probes the inputs', () => {
    expect(inputs.video.info).toMatchObject({
      kind: 'video',
      width: 320,
      height: 240,
      video_codec: 'h264',
      audio_codec: 'aac',
      streams: { video: 1, audio: 1 },
    });
    expect(inputs.video.info.duration_s).toBeCloseTo(2, 1);
    expect(inputs.silent.info).toMatchObject({ kind: 'video', streams: { video: 1, audio: 0 } });
    expect(inputs.audio.info).toMatchObject({
      kind: 'audio',
      format: 'wav',
      audio_codec: 'pcm_s16le',
      audio_channels: 2,
      sample_rate: 44100,
    });
    expect(inputs.image.info).toMatchObject({
      kind: 'image',
      format: 'png_pipe',
      width: 320,
      height: 240,
      duration_s: null,
    });
  });

  it('a non-media file is unprocessable, with a human message', async () => {
    const path = await makeNonMedia(join(dir, 'notes.bin'));
    const err = await probe(path, PROBE).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MediaError);
    expect(err).toMatchObject({ code: 'unprocessable' });
    expect((err as MediaError).message).toMatch(/not audio, video or an image/);
    expect((err as MediaError).message).not.toContain(dir); // no server paths
  });

  it('a probe that hangs is killed at its timeout', async () => {
    const fake = join(dir, 'hanging-ffprobe.sh');
    await writeFile(fake, '#!/bin/sh\nexec sleep 30\n');
    await chmod(fake, 0o755);
    // The fake sleeps 30 s: only the probe's own timer can end it with code 'timeout'.
    await expect(probe(inputs.video.path, { timeoutMs: 300, ffprobePath: fake })).rejects.toMatchObject({
      code: 'timeout',
    });
  });

  it('a truncated video is unprocessable; an empty file too', async () => {
    const cut = join(dir, 'cut.mp4');
    await copyFile(inputs.video.path, cut);
    await truncate(cut, 4000);
    await expect(probe(cut, PROBE)).rejects.toMatchObject({ code: 'unprocessable' });
    const empty = join(dir, 'empty.mp4');
    await writeFile(empty, '');
    await expect(probe(empty, PROBE)).rejects.toMatchObject({ code: 'unprocessable', message: 'the file is empty' });
  });
});

interface Expectation {
  input: keyof typeof inputs;
  options?: ConversionOptions;
  format: string;
  video?: string;
  audio?: string;
  width?: number;
  height?: number;
  duration?: number;
  channels?: number;
  sampleRate?: number;
  brand?: string;
}

/** One row per catalog target (a test below fails when the catalog gains a target without a row). */
const TARGETS: Record<string, Expectation> = {
  mp4: {
    input: 'video',
    options: { width: 160 },
    format: 'mov,mp4,m4a,3gp,3g2,mj2',
    video: 'h264',
    audio: 'aac',
    width: 160,
    height: 120,
    duration: 2,
    brand: 'isom',
  },
  webm: {
    input: 'video',
    options: { height: 120, sample_rate: 24000 },
    format: 'matroska,webm',
    video: 'vp9',
    audio: 'opus',
    width: 160,
    height: 120,
    duration: 2,
  },
  mov: {
    input: 'video',
    options: { crf: 35, audio_bitrate: 64 },
    format: 'mov,mp4,m4a,3gp,3g2,mj2',
    video: 'h264',
    audio: 'aac',
    width: 320,
    height: 240,
    brand: 'qt  ',
  },
  mkv: {
    input: 'video',
    options: { fps: 10, start: 0.5, duration: 1 },
    format: 'matroska,webm',
    video: 'h264',
    audio: 'aac',
    duration: 1,
  },
  gif: {
    input: 'video',
    options: { width: 160, duration: 1 },
    format: 'gif',
    video: 'gif',
    width: 160,
    height: 120,
    duration: 1,
  },
  mp3: {
    input: 'audio',
    options: { audio_bitrate: 96, sample_rate: 22050, audio_channels: 1 },
    format: 'mp3',
    audio: 'mp3',
    sampleRate: 22050,
    channels: 1,
  },
  m4a: { input: 'video', format: 'mov,mp4,m4a,3gp,3g2,mj2', audio: 'aac', duration: 2, brand: 'M4A ' },
  ogg: { input: 'audio', options: { start: 0.5 }, format: 'ogg', audio: 'vorbis', duration: 1.5 },
  opus: { input: 'audio', options: { audio_channels: 1 }, format: 'ogg', audio: 'opus', channels: 1, duration: 2 },
  wav: {
    input: 'video',
    options: { sample_rate: 8000, audio_channels: 1 },
    format: 'wav',
    audio: 'pcm_s16le',
    sampleRate: 8000,
    channels: 1,
  },
  flac: { input: 'audio', options: { duration: 1 }, format: 'flac', audio: 'flac', duration: 1 },
  png: { input: 'image', options: { width: 100 }, format: 'png_pipe', video: 'png', width: 100, height: 75 },
  jpg: { input: 'video', options: { time: 1, quality: 40 }, format: 'image2', video: 'mjpeg', width: 320, height: 240 },
  webp: { input: 'image', options: { height: 60 }, format: 'webp_pipe', video: 'webp', width: 80, height: 60 },
  bmp: { input: 'video', options: { width: 64, height: 64 }, format: 'bmp_pipe', video: 'bmp', width: 64, height: 64 },
  tiff: { input: 'image', format: 'tiff_pipe', video: 'tiff', width: 320, height: 240 },
};

describe('audio with cover art', () => {
  it('is probed as audio and converts to every audio target without the picture', async () => {
    const path = await makeAudio({ path: join(dir, 'song.mp3'), seconds: 1, format: 'mp3', cover: true });
    const info = await probe(path, PROBE);
    expect(info).toMatchObject({
      kind: 'audio',
      audio_codec: 'mp3',
      streams: { video: 0, audio: 1 },
      audio_stream_index: 0,
    });
    expect((await rawProbe(path)).streams.map((s) => s.codec_type)).toEqual(['audio', 'video']);
    for (const name of ['mp3', 'm4a', 'ogg', 'opus', 'flac']) {
      const out = await convert(name, { path, info });
      expect(out.raw.streams.map((s) => s.codec_type)).toEqual(['audio']);
    }
  });
});

describe('every catalog target converts', () => {
  it('has an expectation for every target', () => {
    expect(Object.keys(TARGETS).sort()).toEqual(CATALOG.map((t) => t.target).sort());
  });

  it.each(Object.entries(TARGETS))('%s', async (name, e) => {
    const { info, raw } = await convert(name, e.input, e.options);
    expect(info.format).toBe(e.format);
    expect(info.video_codec).toBe(e.video ?? null);
    expect(info.audio_codec).toBe(e.audio ?? null);
    if (e.width !== undefined) expect([info.width, info.height]).toEqual([e.width, e.height]);
    if (e.duration !== undefined) expect(Math.abs((info.duration_s ?? 0) - e.duration)).toBeLessThan(0.15);
    if (e.channels !== undefined) expect(info.audio_channels).toBe(e.channels);
    if (e.sampleRate !== undefined) expect(info.sample_rate).toBe(e.sampleRate);
    if (e.brand !== undefined) expect(raw.format.tags?.major_brand).toBe(e.brand);
    // Only the streams the target holds: no subtitles, data, or stray cover art.
    expect(raw.streams.map((s) => s.codec_type).sort()).toEqual([
      ...(e.audio ? ['audio'] : []),
      ...(e.video ? ['video'] : []),
    ]);
  });

  it('a gif from a still image, and an image from an image', async () => {
    const gif = await convert('gif', 'image', { width: 100 });
    expect(gif.info).toMatchObject({ format: 'gif', kind: 'image', width: 100, height: 75 });
    const jpg = await convert('jpg', 'image');
    expect(jpg.info).toMatchObject({ video_codec: 'mjpeg', width: 320, height: 240 });
  });

  it('video without audio converts to mp4 and webm', async () => {
    for (const name of ['mp4', 'webm']) {
      const { info } = await convert(name, 'silent', { width: 200 });
      expect(info).toMatchObject({ kind: 'video', streams: { video: 1, audio: 0 }, width: 200, height: 150 });
    }
  });

  it('width-only scaling keeps the aspect ratio, with an even height for H.264', async () => {
    const { info } = await convert('mp4', 'video', { width: 250 });
    // 250 × 240/320 = 187.5 → 188 (even)
    expect([info.width, info.height]).toEqual([250, 188]);
  });

  it('a thumbnail at time=1 is a different frame from time=0', async () => {
    const at0 = await convert('png', 'video', { time: 0 });
    const at1 = await convert('png', 'video', { time: 1 });
    expect(at1.info).toMatchObject({ format: 'png_pipe', width: 320, height: 240 });
    expect((await readFile(at1.path)).equals(await readFile(at0.path))).toBe(false);
  });

  it('a time past the end still gives a frame', async () => {
    const { info } = await convert('jpg', 'video', { time: 30 });
    expect(info.video_codec).toBe('mjpeg');
  });
});

describe('refusals', () => {
  it('audio-only → mp4 is unsupported media', () => {
    const plan = buildConversion({
      target: findTarget('mp4')!,
      options: {},
      input: inputs.audio.info,
      inputPath: inputs.audio.path,
      outputPath: join(dir, 'never.mp4'),
    });
    expect(plan).toMatchObject({
      kind: 'unsupported',
      code: 'unsupported_media_type',
      message: expect.stringMatching(/^input has no video stream; mp4 needs video/),
    });
  });

  it('ffmpeg failing on a corrupt input is unprocessable, with the stderr tail, and leaves no output', async () => {
    const bad = await makeNonMedia(join(dir, 'fake.mp4'));
    const out = outputPath('mp4');
    const plan = buildConversion({
      target: findTarget('mp4')!,
      options: {},
      input: inputs.video.info,
      inputPath: bad,
      outputPath: out,
    });
    if (plan.kind !== 'ok') throw new Error(plan.message);
    const err = await run(plan.passes, { timeoutMs: 10_000, outputPath: out, ffmpegPath: FFMPEG }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'unprocessable' });
    expect((err as MediaError).stderrTail).toMatch(/Invalid data found/);
    expect((err as MediaError).stderrTail).not.toContain(dir);
    expect(await exists(out)).toBe(false);
  });
});

describe('runner limits', () => {
  /** An ffmpeg that never ends on its own: a live test pattern read in real time. */
  function endlessPass(output: string): FfmpegPass {
    return {
      inputOptions: ['-hide_banner', '-nostdin', '-y', '-re', '-f', 'lavfi'],
      input: 'testsrc=size=160x120:rate=10',
      outputOptions: ['-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'mp4'],
      output,
    };
  }

  it('a timeout kills ffmpeg and rejects with timeout', async () => {
    const out = outputPath('mp4');
    let pid = 0;
    // The pass never ends by itself (-re on an endless source): only the timeout stops it.
    const err = await run([endlessPass(out)], {
      timeoutMs: 800,
      outputPath: out,
      ffmpegPath: FFMPEG,
      onStart: (p) => (pid = p),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'timeout' });
    expect(pid).toBeGreaterThan(0);
    expect(processGone(pid)).toBe(true);
    expect(runningProcessCount()).toBe(0);
    expect(await exists(out)).toBe(false);
  });

  it('an abort signal kills ffmpeg and rejects with canceled', async () => {
    const out = outputPath('mp4');
    const controller = new AbortController();
    let pid = 0;
    const running = run([endlessPass(out)], {
      timeoutMs: 20_000,
      outputPath: out,
      ffmpegPath: FFMPEG,
      signal: controller.signal,
      onStart: (p) => {
        pid = p;
        setTimeout(() => controller.abort(), 300);
      },
    }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    expect(runningProcessCount()).toBe(1);
    await new Promise<void>((r) => controller.signal.addEventListener('abort', () => r()));
    const err = await running; // the pass is endless (timeout 20 s): only the abort ends it
    expect(err).toMatchObject({ code: 'canceled' });
    expect(processGone(pid)).toBe(true);
    expect(runningProcessCount()).toBe(0);
  });

  it("a missing ffmpeg binary is an internal error, not the input's fault", async () => {
    const out = outputPath('mp4');
    await expect(
      run([endlessPass(out)], { timeoutMs: 5000, outputPath: out, ffmpegPath: join(dir, 'no-such-ffmpeg') }),
    ).rejects.toMatchObject({ code: 'internal' });
    expect(runningProcessCount()).toBe(0);
  });

  it('an already aborted signal starts nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    const onStart = jest.fn();
    await expect(
      run([endlessPass(outputPath('mp4'))], {
        timeoutMs: 5000,
        outputPath: join(dir, 'x.mp4'),
        signal: controller.signal,
        onStart,
      }),
    ).rejects.toMatchObject({ code: 'canceled' });
    expect(onStart).not.toHaveBeenCalled();
  });

  it('ffmpeg ignoring SIGTERM is SIGKILLed after the grace period', async () => {
    // A stand-in ffmpeg: answers fluent-ffmpeg's capability queries, then notes every SIGTERM in a
    // file and carries on; only SIGKILL can end it.
    const fake = join(dir, 'stubborn-ffmpeg.sh');
    const marks = join(dir, 'stubborn-ffmpeg.marks');
    await writeFile(
      fake,
      `#!/bin/sh\ncase "$*" in *-version*|*-formats*|*-encoders*|*-codecs*|*-filters*) exec ffmpeg "$@";; esac\ntrap 'echo term >> ${marks}' TERM\necho started >> ${marks}\nwhile :; do sleep 0.1; done\n`,
    );
    await chmod(fake, 0o755);
    const out = outputPath('mp4');
    let pid = 0;
    const err = await run([endlessPass(out)], {
      timeoutMs: 1500,
      killGraceMs: 500,
      outputPath: out,
      ffmpegPath: fake,
      onStart: (p) => (pid = p),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'timeout' });
    // It was running, got SIGTERM and survived it; it is gone now, so SIGKILL ended it.
    expect((await readFile(marks, 'utf8')).split('\n').filter(Boolean)).toEqual(['started', 'term']);
    expect(processGone(pid)).toBe(true);
    expect(runningProcessCount()).toBe(0);
  });

  it('an output over the size cap is stopped and removed', async () => {
    const out = outputPath('nut');
    // Raw frames as fast as ffmpeg can: ~29 KB each, so the 1 MB cap is passed almost at once.
    const flood: FfmpegPass = {
      inputOptions: ['-hide_banner', '-nostdin', '-y', '-f', 'lavfi'],
      input: 'testsrc=size=160x120:rate=25',
      outputOptions: ['-c:v', 'rawvideo', '-f', 'nut'],
      output: out,
    };
    const err = await run([flood], {
      timeoutMs: 10_000,
      maxOutputBytes: 1_000_000,
      sizeCheckIntervalMs: 50,
      outputPath: out,
      ffmpegPath: FFMPEG,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'payload_too_large' });
    expect(await exists(out)).toBe(false);
  });

  it('a finished output over the cap is refused too', async () => {
    await expect(convert('wav', 'audio', {}, { maxOutputBytes: 1000 })).rejects.toMatchObject({
      code: 'payload_too_large',
    });
  });

  it('progress rises monotonically to 100', async () => {
    const long = await makeVideo({ path: join(dir, 'long.mp4'), seconds: 8, width: 640, height: 480, audio: true });
    const seen: number[] = [];
    await convert(
      'webm',
      { path: long, info: await probe(long, PROBE) },
      {},
      { onProgress: (p) => seen.push(p), progressIntervalS: 0.1 },
    );
    expect(seen[0]).toBe(0);
    expect(seen[seen.length - 1]).toBe(100);
    expect(seen.length).toBeGreaterThan(2);
    for (let i = 1; i < seen.length; i += 1) expect(seen[i]).toBeGreaterThan(seen[i - 1]);
    expect(seen.every((p) => Number.isInteger(p) && p >= 0 && p <= 100)).toBe(true);
  });
});
