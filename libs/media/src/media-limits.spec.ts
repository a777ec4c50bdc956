import { checkMediaLimits, estimateOutputBytes, outputByteCap, type MediaLimits } from './media-limits';
import type { MediaInfo } from './media-info';
import { image as pngPicture } from './testing/conversion-plans';
import { formatBytes, limitedCommand, memoryLimitMessage, ranOutOfMemory } from './memory-limit';
import { refusedFormat, refusedFormatMessage } from './input-formats';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** The defaults of libs/config. */
const limits: MediaLimits = {
  maxPixels: 16384 * 8192,
  maxDimension: 16384,
  maxDurationS: 86400,
  maxAudioChannels: 16,
  maxSampleRate: 192_000,
  maxOutputBytes: 10 * GiB,
  maxOutputRatio: 200,
  outputRatioFloorBytes: 256 * MiB,
};

const image = (width: number, height: number, size = 2_000_000): MediaInfo => ({
  ...pngPicture,
  size_bytes: size,
  bit_rate: null,
  width,
  height,
});

const audio = (seconds: number, channels: number, rate: number, size: number): MediaInfo => ({
  format: 'flac',
  duration_s: seconds,
  size_bytes: size,
  bit_rate: null,
  kind: 'audio',
  width: null,
  height: null,
  fps: null,
  video_codec: null,
  audio_codec: 'flac',
  audio_channels: channels,
  sample_rate: rate,
  streams: { video: 0, audio: 1 },
  video_stream_index: null,
  audio_stream_index: 0,
});

const video = (width: number, height: number, seconds: number): MediaInfo => ({
  format: 'mov,mp4,m4a,3gp,3g2,mj2',
  duration_s: seconds,
  size_bytes: 50 * MiB,
  bit_rate: 4_000_000,
  kind: 'video',
  width,
  height,
  fps: 25,
  video_codec: 'h264',
  audio_codec: 'aac',
  audio_channels: 2,
  sample_rate: 48000,
  streams: { video: 1, audio: 1 },
  video_stream_index: 0,
  audio_stream_index: 1,
});

const t = (target: string) => ({ target });

describe('checkMediaLimits', () => {
  it('lets ordinary media through: a 61 MP photo, 4K and 8K video, an hour of 5.1 audio, a 16384×8192 panorama', () => {
    expect(checkMediaLimits(image(9504, 6336), t('jpg'), limits)).toBeNull();
    expect(checkMediaLimits(image(16384, 8192), t('png'), limits)).toBeNull();
    expect(checkMediaLimits(video(3840, 2160, 7200), t('mp4'), limits)).toBeNull();
    expect(checkMediaLimits(video(7680, 4320, 600), t('webm'), limits)).toBeNull();
    expect(checkMediaLimits(audio(3600, 6, 48000, 400 * MiB), t('wav'), limits)).toBeNull();
    // A 3-minute MP3-sized input becoming a 31 MB WAV: ratio 10, fine.
    expect(checkMediaLimits(audio(180, 2, 44100, 3 * MiB), t('wav'), limits)).toBeNull();
  });

  it('refuses a picture over the pixel limit, naming the limit and both values', () => {
    const refusal = checkMediaLimits(image(16000, 16000), t('jpg'), limits);
    expect(refusal).toEqual({
      limit: 'pixels',
      message:
        'pixel limit exceeded: the picture is 16000×16000 (256.0 MP); at most 134.2 MP per frame (KILN_MAX_PIXELS)',
    });
    expect(checkMediaLimits(video(12000, 12000, 10), t('mp4'), limits)?.limit).toBe('pixels');
    expect(checkMediaLimits(image(16000, 16000), t('jpg'), { ...limits, maxPixels: 256_000_000 })).toBeNull();
  });

  it('refuses a side over the dimension limit even when the pixels fit', () => {
    const refusal = checkMediaLimits(image(100_000, 10), t('png'), limits);
    expect(refusal?.limit).toBe('dimension');
    expect(refusal?.message).toBe(
      'dimension limit exceeded: the picture is 100000×10; at most 16384 pixels per side (KILN_MAX_DIMENSION)',
    );
    expect(checkMediaLimits(image(10, 16385), t('png'), limits)?.limit).toBe('dimension');
  });

  it('refuses media longer than the duration limit', () => {
    const refusal = checkMediaLimits(audio(90_000, 2, 44100, 100 * MiB), t('mp3'), limits);
    expect(refusal?.limit).toBe('duration');
    expect(refusal?.message).toMatch(
      /duration limit exceeded: the input plays 90000 s; at most 86400 s \(KILN_MAX_DURATION_SECONDS\)/,
    );
  });

  it('refuses too many channels and too high a sample rate', () => {
    expect(checkMediaLimits(audio(60, 64, 48000, 50 * MiB), t('mp3'), limits)).toEqual({
      limit: 'audio_channels',
      message: 'audio channel limit exceeded: the input has 64 channels; at most 16 (KILN_MAX_AUDIO_CHANNELS)',
    });
    expect(checkMediaLimits(audio(60, 2, 384_000, 50 * MiB), t('mp3'), limits)).toEqual({
      limit: 'sample_rate',
      message: 'sample rate limit exceeded: the input has 384000 Hz; at most 192000 Hz (KILN_MAX_SAMPLE_RATE)',
    });
  });

  it('refuses a FLAC whose WAV would exceed the output allowance for its size (the 222 KB → 921 MB bomb)', () => {
    // 87 minutes of near-silence in 222 KB: the WAV is 921 MB, 4,150 times the input.
    const bomb = audio(5220, 2, 44100, 222_000);
    const refusal = checkMediaLimits(bomb, t('wav'), limits);
    expect(refusal?.limit).toBe('output_size');
    expect(refusal?.message).toBe(
      'output size limit exceeded: the wav output would be about 878 MiB (5220 s × 2 channels × 44100 Hz × 2 bytes); ' +
        'at most 256 MiB for this 217 KiB input (KILN_MAX_OUTPUT_RATIO 200 × the input, at least KILN_OUTPUT_RATIO_FLOOR 256 MiB)',
    );
    // The same file trimmed to 10 minutes, or downmixed and resampled, fits the floor.
    expect(checkMediaLimits(bomb, t('wav'), limits, { duration: 600 })).toBeNull();
    expect(checkMediaLimits(bomb, t('wav'), limits, { audio_channels: 1, sample_rate: 16000 })).toBeNull();
    // Compressed targets are not estimated (their size is watched while ffmpeg writes).
    expect(checkMediaLimits(bomb, t('mp3'), limits)).toBeNull();
  });

  it('caps an uncompressed output at the absolute limit when the ratio would allow more', () => {
    const big = audio(20 * 3600, 8, 96000, 8 * GiB); // 20 h of 8 ch 96 kHz: 110 GB as WAV
    const refusal = checkMediaLimits(big, t('wav'), limits);
    expect(refusal?.limit).toBe('output_size');
    expect(refusal?.message).toMatch(/at most 10 GiB \(KILN_MAX_OUTPUT_SIZE\)$/);
  });

  it('estimates BMP and TIFF from the picture and the requested size', () => {
    // A 120 MP flat PNG of 300 KB: 360 MB as BMP, over 256 MiB.
    const flat = image(12000, 10000, 300_000);
    expect(checkMediaLimits(flat, t('bmp'), limits)?.limit).toBe('output_size');
    expect(checkMediaLimits(flat, t('tiff'), limits)?.message).toMatch(
      /about 343 MiB \(12000×10000 pixels × 3 bytes\)/,
    );
    expect(checkMediaLimits(flat, t('tiff'), limits, { width: 4000 })).toBeNull();
    expect(checkMediaLimits(flat, t('png'), limits)).toBeNull();
  });
});

describe('estimateOutputBytes', () => {
  it('follows trims, channels, rate and scaling as the builder applies them', () => {
    const a = audio(100, 2, 48000, 1 * MiB);
    expect(estimateOutputBytes(a, 'wav')?.bytes).toBe(100 * 2 * 48000 * 2);
    expect(estimateOutputBytes(a, 'wav', { start: 90 })?.bytes).toBe(10 * 2 * 48000 * 2);
    expect(estimateOutputBytes(a, 'wav', { start: 10, duration: 5, audio_channels: 1, sample_rate: 8000 })?.bytes).toBe(
      5 * 8000 * 2,
    );
    expect(estimateOutputBytes(image(4000, 3000), 'bmp', { height: 300 })?.bytes).toBe(400 * 300 * 3);
    expect(estimateOutputBytes(image(4000, 3000), 'tiff', { width: 100, height: 100 })?.bytes).toBe(100 * 100 * 3);
    expect(estimateOutputBytes(a, 'flac')).toBeNull();
    expect(estimateOutputBytes({ ...a, duration_s: null }, 'wav')).toBeNull();
  });
});

describe('outputByteCap', () => {
  it('is the ratio to the input, at least the floor, at most the absolute cap', () => {
    expect(outputByteCap(1 * MiB, limits).bytes).toBe(256 * MiB);
    expect(outputByteCap(10 * MiB, limits).bytes).toBe(2000 * MiB);
    expect(outputByteCap(1 * GiB, limits)).toEqual({ bytes: 10 * GiB, description: '10 GiB (KILN_MAX_OUTPUT_SIZE)' });
    expect(outputByteCap(null, limits).bytes).toBe(10 * GiB);
    expect(outputByteCap(1 * MiB, { ...limits, maxOutputRatio: 0 }).bytes).toBe(10 * GiB);
  });
});

describe('memory limit helpers', () => {
  it('wraps a tool in prlimit only when a limit is set', () => {
    expect(limitedCommand('ffprobe', ['-i', 'x'], 200 * MiB)).toEqual([
      'prlimit',
      ['--data=209715200', '--', 'ffprobe', '-i', 'x'],
    ]);
    expect(limitedCommand('ffprobe', ['-i', 'x'], 0)).toEqual(['ffprobe', ['-i', 'x']]);
    expect(limitedCommand('ffprobe', ['-i', 'x'], undefined)).toEqual(['ffprobe', ['-i', 'x']]);
  });

  it('recognises failed allocations, not ordinary failures nor a bare crash', () => {
    expect(ranOutOfMemory('Error while filtering: Cannot allocate memory')).toBe(true);
    expect(ranOutOfMemory('[mjpeg @ 0x1] get_buffer() failed (-12 (nil))')).toBe(true);
    expect(ranOutOfMemory('x264 [error]: malloc of size 7332480 failed')).toBe(true);
    expect(ranOutOfMemory('[png @ 0x1] ff_frame_thread_encoder_init failed')).toBe(true);
    expect(ranOutOfMemory('input: Invalid data found when processing input')).toBe(false);
    // A crash with no failed allocation reported is a fault of the machine (tool-exit.ts), not the limit.
    expect(ranOutOfMemory('')).toBe(false);
  });

  it('names the memory limit and its value', () => {
    expect(memoryLimitMessage(200 * MiB)).toMatch(
      /^memory limit exceeded: converting this input needs more than the 200 MiB ffmpeg may use \(KILN_FFMPEG_MEMORY_LIMIT\)/,
    );
    expect(formatBytes(100)).toBe('100 bytes');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(4 * GiB)).toBe('4 GiB');
  });
});

describe('refused input formats', () => {
  it('reads the demuxer libavformat refused and says why', () => {
    const stderr = "[hls @ 0x5614fbc8e280] Format not on whitelist 'mov,matroska'\n<input>: Invalid argument";
    expect(refusedFormat(stderr)).toBe('hls');
    expect(refusedFormatMessage('hls')).toMatch(
      /^input format not accepted: hls is a playlist or a list of other files/,
    );
    expect(refusedFormat('<input>: Invalid data found when processing input')).toBeNull();
  });
});
