/**
 * The pure half of "ffmpeg split in two": (catalog target, options, probe) → ffmpeg argument lists.
 * No process, no file system, no fluent-ffmpeg: every branch is unit-tested as plain arrays.
 */
import { CATALOG, validateOptions, type ConversionOptions, type MediaCategory, type TargetSpec } from '@kiln/contracts';
import { isAbsolute } from 'node:path';
import { INPUT_RESTRICTIONS } from './input-formats';
import type { MediaInfo, MediaKind } from './media-info';

/**
 * One ffmpeg run: `ffmpeg <inputOptions> -i <input> <outputOptions> <output>`. Kept in four parts
 * so the runner can hand them to fluent-ffmpeg as they are; `toArgs` is the flat list.
 */
export interface FfmpegPass {
  inputOptions: string[];
  input: string;
  outputOptions: string[];
  output: string;
}

export function toArgs(pass: FfmpegPass): string[] {
  return [...pass.inputOptions, '-i', pass.input, ...pass.outputOptions, pass.output];
}

export type X264Preset =
  | 'ultrafast'
  | 'superfast'
  | 'veryfast'
  | 'faster'
  | 'fast'
  | 'medium'
  | 'slow'
  | 'slower'
  | 'veryslow';

/** How hard ffmpeg works; deployment settings, not user options. */
export interface BuilderSettings {
  /** libx264 preset for mp4/mov/mkv. Default `veryfast`. */
  preset?: X264Preset;
  /** `-threads` for the encoders; omitted (ffmpeg decides) when not given. */
  threads?: number;
  /**
   * `-max_pixels` for the input's decoder (KILN_MAX_PIXELS): a frame larger than the probe showed
   * (a size change mid-stream) is refused by the decoder instead of being allocated.
   */
  maxPixels?: number;
}

export interface ConversionRequest {
  target: TargetSpec;
  options: ConversionOptions;
  input: MediaInfo;
  /** Absolute paths: a relative one could be read by ffmpeg as a protocol (`concat:…`). */
  inputPath: string;
  outputPath: string;
}

export type ConversionPlan =
  | {
      kind: 'ok';
      /** Run in order; usually one. */
      passes: FfmpegPass[];
      /** How long the output should play, for progress percentages; null for stills or when unknown. */
      expectedDurationS: number | null;
    }
  | {
      kind: 'unsupported';
      /**
       * `unsupported_media_type`: this input cannot become this target (e.g. audio → mp4).
       * `invalid_input`: an option does not fit this input (e.g. a trim start past its end), or does
       * not pass the catalog (a job queued before the catalog changed).
       */
      code: 'unsupported_media_type' | 'invalid_input';
      message: string;
      /** `options.<name>` for `invalid_input`. */
      field?: string;
    };

/**
 * Before `-i`: the protocol and demuxer whitelists (input-formats.ts) and the decoder's pixel cap
 * are input options and must precede the input they guard.
 */
function inputGuards(settings: BuilderSettings): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-y',
    ...INPUT_RESTRICTIONS,
    ...(settings.maxPixels ? ['-max_pixels', String(settings.maxPixels)] : []),
  ];
}

type AudioEncoder = 'aac' | 'libopus' | 'libmp3lame' | 'libvorbis' | 'pcm_s16le' | 'flac';
type ImageEncoder = 'png' | 'mjpeg' | 'libwebp' | 'bmp' | 'tiff';

type Recipe =
  | { family: 'video'; muxer: string; video: 'libx264' | 'libvpx-vp9'; audio: AudioEncoder; faststart: boolean }
  | { family: 'gif'; muxer: 'gif' }
  | { family: 'audio'; muxer: string; audio: AudioEncoder; faststart: boolean }
  | { family: 'image'; muxer: string; codec: ImageEncoder };

/** How each catalog target is executed. A catalog target without a recipe is reported, never guessed. */
const RECIPES: Readonly<Record<string, Recipe>> = {
  mp4: { family: 'video', muxer: 'mp4', video: 'libx264', audio: 'aac', faststart: true },
  mov: { family: 'video', muxer: 'mov', video: 'libx264', audio: 'aac', faststart: true },
  mkv: { family: 'video', muxer: 'matroska', video: 'libx264', audio: 'aac', faststart: false },
  webm: { family: 'video', muxer: 'webm', video: 'libvpx-vp9', audio: 'libopus', faststart: false },
  gif: { family: 'gif', muxer: 'gif' },
  mp3: { family: 'audio', muxer: 'mp3', audio: 'libmp3lame', faststart: false },
  m4a: { family: 'audio', muxer: 'ipod', audio: 'aac', faststart: true },
  ogg: { family: 'audio', muxer: 'ogg', audio: 'libvorbis', faststart: false },
  opus: { family: 'audio', muxer: 'opus', audio: 'libopus', faststart: false },
  wav: { family: 'audio', muxer: 'wav', audio: 'pcm_s16le', faststart: false },
  flac: { family: 'audio', muxer: 'flac', audio: 'flac', faststart: false },
  png: { family: 'image', muxer: 'image2', codec: 'png' },
  jpg: { family: 'image', muxer: 'image2', codec: 'mjpeg' },
  webp: { family: 'image', muxer: 'webp', codec: 'libwebp' },
  bmp: { family: 'image', muxer: 'image2', codec: 'bmp' },
  tiff: { family: 'image', muxer: 'image2', codec: 'tiff' },
};

/** The catalog targets this builder has no recipe for (a unit test keeps this empty). */
export function targetsWithoutRecipe(): string[] {
  return CATALOG.filter((t) => !RECIPES[t.target]).map((t) => t.target);
}

/**
 * libopus accepts only the Vorbis channel layouts (mono, stereo, 3.0, quad, 5.0, 5.1, 6.1, 7.1):
 * ffmpeg's default layouts for 3 and 4 channels (2.1, 4.0) and the common 5.1(side) of AC-3
 * sources fail to open the encoder, so the layout is always negotiated through `aformat`.
 */
const OPUS_LAYOUTS = ['mono', 'stereo', '3.0', 'quad', '5.0', '5.1', '6.1', '7.1'];

export function buildConversion(request: ConversionRequest, settings: BuilderSettings = {}): ConversionPlan {
  const { target, input } = request;
  for (const p of [request.inputPath, request.outputPath]) {
    if (!isAbsolute(p)) throw new Error(`buildConversion needs absolute paths, got ${JSON.stringify(p)}`);
  }
  const recipe = RECIPES[target.target];
  if (!recipe) {
    return unsupported(`target ${target.target} has no conversion recipe`);
  }
  const problems = validateOptions(target, request.options);
  if (problems.length > 0) {
    const [first] = problems;
    return { kind: 'unsupported', code: 'invalid_input', field: first.field, message: first.message };
  }
  const refusal = refuseInput(target, input);
  if (refusal) return unsupported(refusal);

  const options = resolveOptions(target, request.options);
  const trim = planTrim(options, input);
  if ('field' in trim) return { kind: 'unsupported', code: 'invalid_input', field: trim.field, message: trim.message };

  switch (recipe.family) {
    case 'video':
      return ok(videoPass(recipe, options, trim, request, settings), trim.expectedDurationS);
    case 'gif':
      return ok(gifPass(options, trim, request, settings), trim.expectedDurationS);
    case 'audio':
      return ok(audioPass(recipe, options, trim, request, settings), trim.expectedDurationS);
    case 'image':
      return ok(imagePass(recipe, options, request, settings), null);
  }
}

// ---------------------------------------------------------------------------------------------
// Input checks

function refuseInput(target: TargetSpec, input: MediaInfo): string | null {
  if (input.kind === 'unknown') {
    return 'input has no audio, video or image stream that ffmpeg can decode';
  }
  if (!target.accepts.includes(input.kind)) {
    return `${describeInput(input.kind)}; ${target.target} needs ${describeNeeds(target.accepts)}${suggest(input.kind, true)}`;
  }
  if (target.category === 'audio' && input.streams.audio === 0) {
    return `input has no audio stream; ${target.target} needs audio${suggest(input.kind, false)}`;
  }
  return null;
}

function describeInput(kind: Exclude<MediaKind, 'unknown'>): string {
  switch (kind) {
    case 'audio':
      return 'input has no video stream';
    case 'image':
      return 'input is a still image';
    case 'video':
      return 'input is a video';
  }
}

function describeNeeds(accepts: readonly MediaCategory[]): string {
  if (accepts.includes('video') && accepts.includes('image')) return 'video or an image';
  if (accepts.includes('video') && accepts.includes('audio')) return 'audio';
  return accepts.map((k) => (k === 'image' ? 'an image' : k)).join(' or ');
}

/** The targets this input does fit, so the message says what to ask for instead. */
function suggest(kind: Exclude<MediaKind, 'unknown'>, withAudioTargets: boolean): string {
  const fits = CATALOG.filter((t) => t.accepts.includes(kind) && (withAudioTargets || t.category !== 'audio'));
  return fits.length ? ` (this input converts to: ${fits.map((t) => t.target).join(', ')})` : '';
}

// ---------------------------------------------------------------------------------------------
// Options

interface Resolved {
  width?: number;
  height?: number;
  fps?: number;
  video_bitrate?: number;
  audio_bitrate?: number;
  crf?: number;
  start?: number;
  duration?: number;
  audio_channels?: number;
  sample_rate?: number;
  quality?: number;
  time?: number;
}

/** The target's declared options only, with the catalog's defaults filled in. */
function resolveOptions(target: TargetSpec, given: ConversionOptions): Resolved {
  const out: Record<string, number> = {};
  for (const [name, spec] of Object.entries(target.options)) {
    const value = given[name] ?? spec.default;
    if (value === undefined) continue;
    const n = Number(value);
    if (Number.isFinite(n)) out[name] = n;
  }
  // crf and video_bitrate are exclusive (the catalog checks): a given bitrate replaces the default crf.
  if (out.video_bitrate !== undefined && given.crf === undefined) delete out.crf;
  return out as Resolved;
}

interface Trim {
  inputOptions: string[];
  expectedDurationS: number | null;
}

/** `start` seeks the input (`-ss` before `-i`), `duration` limits what is read (`-t` before `-i`). */
function planTrim(o: Resolved, input: MediaInfo): Trim | { field: string; message: string } {
  const duration = input.duration_s;
  if (input.kind === 'image') {
    // A still has no timeline; trimming it would only lose its one frame.
    return { inputOptions: [], expectedDurationS: null };
  }
  const start = o.start ?? 0;
  if (duration !== null && start > 0 && start >= duration) {
    return {
      field: 'options.start',
      message: `start (${num(start)} s) is at or past the end of the input (${duration.toFixed(2)} s)`,
    };
  }
  const inputOptions: string[] = [];
  if (start > 0) inputOptions.push('-ss', num(start));
  if (o.duration !== undefined) inputOptions.push('-t', num(o.duration));
  let expected = duration === null ? null : Math.max(0, duration - start);
  if (o.duration !== undefined) expected = expected === null ? o.duration : Math.min(expected, o.duration);
  return { inputOptions, expectedDurationS: expected === null ? null : round3(expected) };
}

// ---------------------------------------------------------------------------------------------
// Passes

function videoPass(
  recipe: Extract<Recipe, { family: 'video' }>,
  o: Resolved,
  trim: Trim,
  req: ConversionRequest,
  settings: BuilderSettings,
): FfmpegPass {
  const { input } = req;
  const hasAudio = input.streams.audio > 0;
  const filters = [o.fps !== undefined ? `fps=${num(o.fps)}` : null, evenScale(o, input)].filter(isString);

  const video =
    recipe.video === 'libx264'
      ? ['-c:v', 'libx264', '-preset', settings.preset ?? 'veryfast', ...rateControl(o, false)]
      : ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-row-mt', '1', ...rateControl(o, true)];

  return {
    inputOptions: [...inputGuards(settings), ...trim.inputOptions],
    input: req.inputPath,
    outputOptions: [
      '-map',
      videoMap(input),
      ...(hasAudio ? ['-map', audioMap(input)] : []),
      ...(filters.length ? ['-vf', filters.join(',')] : []),
      ...video,
      '-pix_fmt',
      'yuv420p',
      ...(hasAudio ? audioEncoding(recipe.audio, o) : ['-an']),
      ...(recipe.faststart ? ['-movflags', '+faststart'] : []),
      ...threads(settings),
      '-f',
      recipe.muxer,
    ],
    output: req.outputPath,
  };
}

/** One pass: the palette is computed from the same frames it is applied to (split → palettegen → paletteuse). */
function gifPass(o: Resolved, trim: Trim, req: ConversionRequest, settings: BuilderSettings): FfmpegPass {
  const { input } = req;
  // A still has one frame and no duration: an fps filter would drop it.
  const fps = input.kind === 'video' && o.fps !== undefined ? `fps=${num(o.fps)}` : null;
  const chain = [fps, freeScale(o, 'lanczos')].filter(isString);
  const graph =
    `[${videoMap(input)}]${chain.length ? `${chain.join(',')},` : ''}split[frames][sample];` +
    '[sample]palettegen=stats_mode=diff[palette];' +
    '[frames][palette]paletteuse=dither=bayer:bayer_scale=5:diff_mode=rectangle[gif]';
  return {
    inputOptions: [...inputGuards(settings), ...trim.inputOptions],
    input: req.inputPath,
    outputOptions: ['-filter_complex', graph, '-map', '[gif]', '-an', ...threads(settings), '-f', 'gif'],
    output: req.outputPath,
  };
}

function audioPass(
  recipe: Extract<Recipe, { family: 'audio' }>,
  o: Resolved,
  trim: Trim,
  req: ConversionRequest,
  settings: BuilderSettings,
): FfmpegPass {
  return {
    inputOptions: [...inputGuards(settings), ...trim.inputOptions],
    input: req.inputPath,
    outputOptions: [
      '-map',
      audioMap(req.input),
      '-vn',
      ...audioEncoding(recipe.audio, o),
      ...(recipe.faststart ? ['-movflags', '+faststart'] : []),
      ...threads(settings),
      '-f',
      recipe.muxer,
    ],
    output: req.outputPath,
  };
}

function imagePass(
  recipe: Extract<Recipe, { family: 'image' }>,
  o: Resolved,
  req: ConversionRequest,
  settings: BuilderSettings,
): FfmpegPass {
  const { input } = req;
  const seek = input.kind === 'video' ? frameTime(o.time ?? 0, input) : 0;
  const filters = [
    freeScale(o, 'lanczos'),
    // TIFF readers rarely handle subsampled YCbCr; keep RGB (with alpha when the source has it).
    recipe.codec === 'tiff' ? 'format=pix_fmts=rgb24|rgba' : null,
  ].filter(isString);
  const quality =
    recipe.codec === 'mjpeg'
      ? ['-q:v', String(jpegQscale(o.quality ?? 85))]
      : recipe.codec === 'libwebp'
        ? ['-quality', String(o.quality ?? 85)]
        : [];
  return {
    inputOptions: [...inputGuards(settings), ...(seek > 0 ? ['-ss', num(seek)] : [])],
    input: req.inputPath,
    outputOptions: [
      '-map',
      videoMap(input),
      ...(filters.length ? ['-vf', filters.join(',')] : []),
      '-frames:v',
      '1',
      '-an',
      '-c:v',
      recipe.codec,
      ...quality,
      ...threads(settings),
      '-f',
      recipe.muxer,
    ],
    output: req.outputPath,
  };
}

// ---------------------------------------------------------------------------------------------
// Pieces

function videoMap(input: MediaInfo): string {
  return input.video_stream_index === null ? '0:v:0' : `0:${input.video_stream_index}`;
}

function audioMap(input: MediaInfo): string {
  return input.audio_stream_index === null ? '0:a:0' : `0:${input.audio_stream_index}`;
}

/** crf (constant quality) unless a bitrate is given; VP9 needs `-b:v 0` for pure constant quality. */
function rateControl(o: Resolved, vp9: boolean): string[] {
  if (o.video_bitrate !== undefined) return ['-b:v', `${o.video_bitrate}k`];
  const crf = o.crf !== undefined ? ['-crf', String(o.crf)] : [];
  return vp9 ? [...crf, '-b:v', '0'] : crf;
}

function audioEncoding(encoder: AudioEncoder, o: Resolved): string[] {
  const args = ['-c:a', encoder];
  const lossless = encoder === 'pcm_s16le' || encoder === 'flac';
  if (o.audio_bitrate !== undefined && !lossless) args.push('-b:a', `${o.audio_bitrate}k`);
  if (encoder === 'libopus') {
    const layouts = o.audio_channels !== undefined ? OPUS_LAYOUTS[o.audio_channels - 1] : OPUS_LAYOUTS.join('|');
    args.push('-af', `aformat=channel_layouts=${layouts}`);
  } else if (o.audio_channels !== undefined) {
    args.push('-ac', String(o.audio_channels));
  }
  if (o.sample_rate !== undefined) args.push('-ar', String(o.sample_rate));
  return args;
}

/**
 * Scaling for yuv420p encoders, which need even sizes: one side given → the other follows the
 * aspect ratio, rounded to even (`-2`); both → exactly that box with square pixels; neither → the
 * input size, trimmed to even only when it is odd (or unknown).
 */
function evenScale(o: Resolved, input: MediaInfo): string | null {
  const w = o.width !== undefined ? even(o.width) : undefined;
  const h = o.height !== undefined ? even(o.height) : undefined;
  if (w !== undefined && h !== undefined) return `scale=${w}:${h},setsar=1`;
  if (w !== undefined) return `scale=${w}:-2`;
  if (h !== undefined) return `scale=-2:${h}`;
  const evenInput = input.width !== null && input.height !== null && input.width % 2 === 0 && input.height % 2 === 0;
  return evenInput ? null : 'scale=trunc(iw/2)*2:trunc(ih/2)*2';
}

/** Scaling for formats that take any size (gif, stills). */
function freeScale(o: Resolved, flags: string): string | null {
  const { width: w, height: h } = o;
  if (w !== undefined && h !== undefined) return `scale=${w}:${h}:flags=${flags},setsar=1`;
  if (w !== undefined) return `scale=${w}:-1:flags=${flags}`;
  if (h !== undefined) return `scale=-1:${h}:flags=${flags}`;
  return null;
}

/**
 * The frame to grab. A time at or past the end would yield no frame at all, so it falls back to
 * half a second before the end (the start for shorter inputs).
 */
function frameTime(time: number, input: MediaInfo): number {
  const d = input.duration_s;
  if (d === null || time < d) return time;
  return Math.max(0, round3(d - 0.5));
}

/** Quality 1-100 (100 best) → mjpeg qscale 31-2 (2 best). */
export function jpegQscale(quality: number): number {
  const q = Math.min(100, Math.max(1, quality));
  return Math.round(31 - ((q - 1) * 29) / 99);
}

function threads(settings: BuilderSettings): string[] {
  return settings.threads !== undefined && settings.threads > 0 ? ['-threads', String(settings.threads)] : [];
}

function even(n: number): number {
  return Math.max(2, Math.floor(n / 2) * 2);
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** Seconds as ffmpeg reads them, without float noise (0.30000000000000004 → "0.3"). */
function num(n: number): string {
  return String(round3(n));
}

function isString(v: string | null): v is string {
  return v !== null;
}

function ok(pass: FfmpegPass, expectedDurationS: number | null): ConversionPlan {
  return { kind: 'ok', passes: [pass], expectedDurationS };
}

function unsupported(message: string): ConversionPlan {
  return { kind: 'unsupported', code: 'unsupported_media_type', message };
}
