/** Still images: one frame (of a video, at the asked time), scaled and encoded with the recipe's codec. */
import type { Resolved } from './conversion-options';
import type { Recipe } from './conversion-recipes';
import { freeScale, inputGuards, isString, num, round3, threads, videoMap } from './ffmpeg-args';
import type { BuilderSettings, ConversionRequest, FfmpegPass } from './ffmpeg-pass';
import type { MediaInfo } from './media-info';

export function imagePass(
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
