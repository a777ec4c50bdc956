/** Video targets (x264 or VP9 with their audio) and animated GIF. */
import { audioEncoding } from './audio-pass';
import type { Resolved, Trim } from './conversion-options';
import type { Recipe } from './conversion-recipes';
import { audioMap, freeScale, inputGuards, isString, num, threads, videoMap } from './ffmpeg-args';
import type { BuilderSettings, ConversionRequest, FfmpegPass } from './ffmpeg-pass';
import type { MediaInfo } from './media-info';

export function videoPass(
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
export function gifPass(o: Resolved, trim: Trim, req: ConversionRequest, settings: BuilderSettings): FfmpegPass {
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

/** crf (constant quality) unless a bitrate is given; VP9 needs `-b:v 0` for pure constant quality. */
function rateControl(o: Resolved, vp9: boolean): string[] {
  if (o.video_bitrate !== undefined) return ['-b:v', `${o.video_bitrate}k`];
  const crf = o.crf !== undefined ? ['-crf', String(o.crf)] : [];
  return vp9 ? [...crf, '-b:v', '0'] : crf;
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

function even(n: number): number {
  return Math.max(2, Math.floor(n / 2) * 2);
}
