/**
 * HTTP Live Streaming: one ffmpeg process decodes the input once, splits the picture into a
 * rendition per asked height (none taller than the input), encodes each with H.264 + AAC and lets
 * the hls muxer write every rendition's media playlist and MPEG-TS segments under `<name>/`, and the
 * master playlist that names them by relative URI. Keyframes are forced on segment boundaries so
 * every rendition cuts at the same times (a player can switch between them at any segment).
 */
import type { ConversionOptions, TargetSpec } from '@kiln/contracts';
import { dirname, join } from 'node:path';
import type { Trim } from './conversion-options';
import { audioMap, inputGuards, num, threads, videoMap } from './ffmpeg-args';
import type { BuilderSettings, ConversionRequest, FfmpegPass } from './ffmpeg-pass';
import type { MediaInfo } from './media-info';

export interface HlsRendition {
  /** The folder of its playlist and segments, and its name in `-var_stream_map`, e.g. `360p`. */
  name: string;
  width: number | null;
  height: number;
  /** Capped-CRF ceiling of the video (kbit/s) and the AAC bitrate. */
  maxrateK: number;
  audioK: number;
}

/** The ladder: the asked heights with their bitrate ceilings (Apple's authoring spec order of magnitude). */
const LADDER: Readonly<Record<string, { height: number; maxrateK: number; audioK: number }>> = {
  '360p': { height: 360, maxrateK: 1000, audioK: 96 },
  '720p': { height: 720, maxrateK: 3000, audioK: 128 },
  '1080p': { height: 1080, maxrateK: 6000, audioK: 160 },
};

/** The name ffmpeg's hls muxer gives the master playlist; the engine renames it to `<baseName>.m3u8`. */
export const HLS_MASTER_NAME = 'master.m3u8';
export const HLS_MEDIA_PLAYLIST = 'index.m3u8';
export const HLS_SEGMENT_PATTERN = 'segment_%03d.ts';

/**
 * The renditions for `renditions` (e.g. `360p,720p`) and this input: those no taller than the
 * input; when every asked one is taller, the smallest asked one at the input's own height (named
 * after it, e.g. `240p`), so there is always one.
 */
export function planRenditions(asked: string, input: MediaInfo): HlsRendition[] {
  const names = asked.split(',').filter((n) => LADDER[n] !== undefined);
  const steps = (names.length ? names : ['360p']).map((name) => ({ name, ...LADDER[name] }));
  const inputHeight = input.height;
  const fitting = inputHeight === null ? steps : steps.filter((s) => s.height <= inputHeight);
  const smallest = steps.reduce((a, b) => (b.height < a.height ? b : a));
  const ownHeight = Math.max(2, Math.floor((inputHeight ?? smallest.height) / 2) * 2);
  const chosen = fitting.length > 0 ? fitting : [{ ...smallest, height: ownHeight, name: `${ownHeight}p` }];
  return chosen.map((s) => ({
    name: s.name,
    height: s.height,
    width: widthFor(s.height, input),
    maxrateK: s.maxrateK,
    audioK: s.audioK,
  }));
}

/** The one hls pass: `-filter_complex` split → scale per rendition, `-var_stream_map` naming each folder. */
export function hlsPass(
  renditions: readonly HlsRendition[],
  segmentS: number,
  trim: Trim,
  req: ConversionRequest,
  settings: BuilderSettings,
): FfmpegPass {
  const { input } = req;
  const hasAudio = input.streams.audio > 0;
  const dir = dirname(req.outputPath);
  const n = renditions.length;
  const scales = renditions.map((r, i) => `[s${i}]scale=${r.width ?? -2}:${r.height},setsar=1[v${i}]`);
  const graph = `[${videoMap(input)}]split=${n}${renditions.map((_, i) => `[s${i}]`).join('')};${scales.join(';')}`;

  const maps = renditions.flatMap((_, i) => ['-map', `[v${i}]`, ...(hasAudio ? ['-map', audioMap(input)] : [])]);
  const perRendition = renditions.flatMap((r, i) => [
    `-maxrate:v:${i}`,
    `${r.maxrateK}k`,
    `-bufsize:v:${i}`,
    `${r.maxrateK * 2}k`,
    ...(hasAudio ? [`-b:a:${i}`, `${r.audioK}k`] : []),
  ]);
  // Variants are separated by a tab (the muxer splits on space or tab), so no argument holds a space.
  const streamMap = renditions.map((r, i) => `v:${i},${hasAudio ? `a:${i},` : ''}name:${r.name}`).join('\t');

  return {
    inputOptions: [...inputGuards(settings), ...trim.inputOptions],
    input: req.inputPath,
    outputOptions: [
      '-filter_complex',
      graph,
      ...maps,
      '-c:v',
      'libx264',
      '-preset',
      settings.preset ?? 'veryfast',
      '-crf',
      '23',
      '-pix_fmt',
      'yuv420p',
      ...perRendition,
      '-force_key_frames',
      `expr:gte(t,n_forced*${num(segmentS)})`,
      '-sc_threshold',
      '0',
      ...(hasAudio ? ['-c:a', 'aac', '-ac', '2'] : ['-an']),
      ...threads(settings),
      '-f',
      'hls',
      '-hls_time',
      num(segmentS),
      '-hls_playlist_type',
      'vod',
      '-hls_flags',
      'independent_segments',
      '-hls_segment_type',
      'mpegts',
      '-hls_segment_filename',
      join(dir, '%v', HLS_SEGMENT_PATTERN),
      '-master_pl_name',
      HLS_MASTER_NAME,
      '-var_stream_map',
      streamMap,
    ],
    output: join(dir, '%v', HLS_MEDIA_PLAYLIST),
  };
}

/** The options an hls conversion reads beside the trim: the ladder and the segment length. */
export function hlsOptions(target: TargetSpec, given: ConversionOptions): { renditions: string; segmentS: number } {
  const spec = target.options;
  const renditions = given.renditions ?? (spec.renditions?.type === 'enum' ? spec.renditions.default : undefined);
  const segment =
    given.segment_duration ?? (spec.segment_duration?.type === 'integer' ? spec.segment_duration.default : 6);
  return { renditions: String(renditions ?? '360p'), segmentS: Number(segment ?? 6) };
}

/** Width that keeps the input's displayed aspect ratio at `height`, even (yuv420p); null when unknown. */
function widthFor(height: number, input: MediaInfo): number | null {
  if (input.width === null || input.height === null || input.height === 0) return null;
  return even((height * input.width) / input.height);
}

function even(n: number): number {
  return Math.max(2, Math.round(n / 2) * 2);
}
