/**
 * Media bombs: a small file that declares enormous pictures, hours of many-channel audio, or
 * decodes to an output thousands of times its size. These are refused from the probe, before
 * anything is decoded; what a probe cannot see (a frame that grows mid-stream, a lying header) is
 * stopped while ffmpeg runs by `-max_pixels`, the memory limit (memory-limit.ts) and the output cap.
 * Pure: no process, no file system.
 */
import type { ConversionOptions, TargetSpec } from '@kiln/contracts';
import type { MediaInfo } from './media-info';
import { formatBytes } from './memory-limit';

/** The configured caps (each from the KILN_* variable named beside it). */
export interface MediaLimits {
  /** Pixels of one frame, width × height (KILN_MAX_PIXELS). */
  maxPixels: number;
  /** Width and height each (KILN_MAX_DIMENSION). */
  maxDimension: number;
  /** Length of audio and video (KILN_MAX_DURATION_SECONDS). */
  maxDurationS: number;
  /** Channels of the audio stream read (KILN_MAX_AUDIO_CHANNELS). */
  maxAudioChannels: number;
  /** Sample rate of the audio stream read, Hz (KILN_MAX_SAMPLE_RATE). */
  maxSampleRate: number;
  /** Absolute cap on one output file (KILN_MAX_OUTPUT_SIZE). */
  maxOutputBytes: number;
  /** An output may be this many times its input's size (KILN_MAX_OUTPUT_RATIO; 0 = no ratio)… */
  maxOutputRatio: number;
  /** …but never less than this (KILN_OUTPUT_RATIO_FLOOR), so small inputs keep a useful allowance. */
  outputRatioFloorBytes: number;
}

export type MediaLimitName =
  | 'pixels'
  | 'dimension'
  | 'duration'
  | 'audio_channels'
  | 'sample_rate'
  | 'output_size'
  | 'memory';

export interface MediaLimitRefusal {
  limit: MediaLimitName;
  /** A sentence for the job's errors: the limit's name, the input's value and the allowed value. */
  message: string;
}

/**
 * The first limit the input breaks for this target, or null when it fits. `options` are the
 * conversion's own (trims, channels, sample rate, size), which change the output size estimate.
 */
export function checkMediaLimits(
  info: MediaInfo,
  target: Pick<TargetSpec, 'target'>,
  limits: MediaLimits,
  options: ConversionOptions = {},
): MediaLimitRefusal | null {
  const { width, height } = info;
  if (width !== null && height !== null) {
    const refusal = checkPicture(width, height, limits);
    if (refusal) return refusal;
  }
  if (info.duration_s !== null && info.duration_s > limits.maxDurationS) {
    return {
      limit: 'duration',
      message: `duration limit exceeded: the input plays ${seconds(info.duration_s)}; at most ${seconds(limits.maxDurationS)} (KILN_MAX_DURATION_SECONDS)`,
    };
  }
  if (info.audio_channels !== null && info.audio_channels > limits.maxAudioChannels) {
    return {
      limit: 'audio_channels',
      message: `audio channel limit exceeded: the input has ${info.audio_channels} channels; at most ${limits.maxAudioChannels} (KILN_MAX_AUDIO_CHANNELS)`,
    };
  }
  if (info.sample_rate !== null && info.sample_rate > limits.maxSampleRate) {
    return {
      limit: 'sample_rate',
      message: `sample rate limit exceeded: the input has ${info.sample_rate} Hz; at most ${limits.maxSampleRate} Hz (KILN_MAX_SAMPLE_RATE)`,
    };
  }
  const estimate = estimateOutputBytes(info, target.target, options);
  if (estimate) {
    const cap = outputByteCap(info.size_bytes, limits);
    if (estimate.bytes > cap.bytes) {
      return {
        limit: 'output_size',
        message: `output size limit exceeded: the ${target.target} output would be about ${formatBytes(estimate.bytes)} (${estimate.how}); at most ${cap.description}`,
      };
    }
  }
  return null;
}

/** Pixels and dimensions of one frame; shared by the probe check and ffmpeg's own refusal. */
export function checkPicture(
  width: number,
  height: number,
  limits: Pick<MediaLimits, 'maxPixels' | 'maxDimension'>,
): MediaLimitRefusal | null {
  if (width > limits.maxDimension || height > limits.maxDimension) {
    return {
      limit: 'dimension',
      message: `dimension limit exceeded: the picture is ${width}×${height}; at most ${limits.maxDimension} pixels per side (KILN_MAX_DIMENSION)`,
    };
  }
  if (width * height > limits.maxPixels) return pixelLimitRefusal(width, height, limits.maxPixels);
  return null;
}

export function pixelLimitRefusal(width: number, height: number, maxPixels: number): MediaLimitRefusal {
  return {
    limit: 'pixels',
    message: `pixel limit exceeded: the picture is ${width}×${height} (${megapixels(width * height)}); at most ${megapixels(maxPixels)} per frame (KILN_MAX_PIXELS)`,
  };
}

export interface OutputByteCap {
  bytes: number;
  /** E.g. "256 MiB for this 290 KiB input (KILN_MAX_OUTPUT_RATIO 200 × the input, at least KILN_OUTPUT_RATIO_FLOOR 256 MiB)". */
  description: string;
}

/**
 * The largest output a unit may write: the ratio to its input (not below the floor), and never
 * above the absolute cap. Without a known input size, or with the ratio off, the absolute cap.
 */
export function outputByteCap(
  inputBytes: number | null,
  limits: Pick<MediaLimits, 'maxOutputBytes' | 'maxOutputRatio' | 'outputRatioFloorBytes'>,
): OutputByteCap {
  const absolute = {
    bytes: limits.maxOutputBytes,
    description: `${formatBytes(limits.maxOutputBytes)} (KILN_MAX_OUTPUT_SIZE)`,
  };
  if (!limits.maxOutputRatio || inputBytes === null || inputBytes <= 0) return absolute;
  const relative = Math.max(Math.floor(inputBytes * limits.maxOutputRatio), limits.outputRatioFloorBytes);
  if (relative >= limits.maxOutputBytes) return absolute;
  return {
    bytes: relative,
    description:
      `${formatBytes(relative)} for this ${formatBytes(inputBytes)} input ` +
      `(KILN_MAX_OUTPUT_RATIO ${limits.maxOutputRatio} × the input, at least KILN_OUTPUT_RATIO_FLOOR ${formatBytes(limits.outputRatioFloorBytes)})`,
  };
}

/** Uncompressed targets: their size follows from the probe. Bytes per sample/pixel as the builder encodes them. */
const PCM_TARGETS: Readonly<Record<string, number>> = { wav: 2 }; // pcm_s16le
/** At least 24-bit RGB (BMP and TIFF may add alpha): a lower bound, so nothing legitimate is refused on a guess. */
const RAW_PICTURE_TARGETS: Readonly<Record<string, number>> = { bmp: 3, tiff: 3 };

/**
 * The decoded size of an uncompressed output, or null for compressed targets (their size is
 * watched while ffmpeg writes instead) and when the probe lacks a needed figure.
 */
export function estimateOutputBytes(
  info: MediaInfo,
  target: string,
  options: ConversionOptions = {},
): { bytes: number; how: string } | null {
  const sampleBytes = PCM_TARGETS[target];
  if (sampleBytes !== undefined) {
    const duration = playedSeconds(info, options);
    const channels = numberOption(options.audio_channels) ?? info.audio_channels;
    const rate = numberOption(options.sample_rate) ?? info.sample_rate;
    if (duration === null || channels === null || rate === null) return null;
    const bytes = Math.ceil(duration * channels * rate * sampleBytes);
    return { bytes, how: `${seconds(duration)} × ${channels} channels × ${rate} Hz × ${sampleBytes} bytes` };
  }
  const pixelBytes = RAW_PICTURE_TARGETS[target];
  if (pixelBytes !== undefined) {
    if (info.width === null || info.height === null) return null;
    const [w, h] = outputSize(info.width, info.height, numberOption(options.width), numberOption(options.height));
    return { bytes: w * h * pixelBytes, how: `${w}×${h} pixels × ${pixelBytes} bytes` };
  }
  return null;
}

/** The trimmed length: `start` and `duration` options applied to the probed duration. */
function playedSeconds(info: MediaInfo, options: ConversionOptions): number | null {
  const start = numberOption(options.start) ?? 0;
  const limit = numberOption(options.duration);
  if (info.duration_s === null) return limit;
  const rest = Math.max(0, info.duration_s - start);
  return limit === null ? rest : Math.min(rest, limit);
}

/** Scaling as the builder does it: both given → that box; one → the other follows the aspect ratio. */
function outputSize(w: number, h: number, ow: number | null, oh: number | null): [number, number] {
  if (ow !== null && oh !== null) return [ow, oh];
  if (ow !== null) return [ow, Math.max(1, Math.round((h * ow) / w))];
  if (oh !== null) return [Math.max(1, Math.round((w * oh) / h)), oh];
  return [w, h];
}

function numberOption(value: string | number | boolean | undefined): number | null {
  if (value === undefined || typeof value === 'boolean') return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

function megapixels(pixels: number): string {
  return `${(pixels / 1e6).toFixed(1)} MP`;
}

function seconds(s: number): string {
  return `${Math.round(s * 100) / 100} s`;
}
