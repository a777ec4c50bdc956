// The media lib against the real ffmpeg/ffprobe: every catalog target converts a small generated
// input into the format, codecs, size and duration expected; audio with cover art loses the picture.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CATALOG, type ConversionOptions } from '@kiln/contracts';
import { isFfmpegTarget, probe } from './index';
import { makeAudio } from './testing';
import { PROBE, convert, dir, inputs, rawProbe, useMediaInputs } from './testing/media-workbench';

jest.setTimeout(30_000);
useMediaInputs();

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

/**
 * One row per catalog target ffmpeg writes as one file (a test below fails when the catalog gains
 * one without a row); hls and metadata are ffmpeg-engine.int-spec.ts's.
 */
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
  waveform: {
    input: 'video',
    options: { width: 400, height: 100 },
    format: 'png_pipe',
    video: 'png',
    width: 400,
    height: 100,
  },
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
    const singleFile = CATALOG.filter((t) => isFfmpegTarget(t) && !['hls', 'metadata'].includes(t.target));
    expect(Object.keys(TARGETS).sort()).toEqual(singleFile.map((t) => t.target).sort());
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
