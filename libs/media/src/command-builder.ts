/**
 * The pure half of "ffmpeg split in two": (catalog target, options, probe) → ffmpeg argument lists.
 * No process, no file system, no fluent-ffmpeg: every branch is unit-tested as plain arrays.
 */
import { validateOptions } from '@kiln/contracts';
import { isAbsolute } from 'node:path';
import { audioPass } from './audio-pass';
import { planTrim, resolveOptions } from './conversion-options';
import { RECIPES } from './conversion-recipes';
import type { BuilderSettings, ConversionPlan, ConversionRequest, FfmpegPass } from './ffmpeg-pass';
import { imagePass } from './image-pass';
import { refuseInput } from './input-refusal';
import { gifPass, videoPass } from './video-passes';
import { hlsOptions, hlsPass, planRenditions } from './hls-passes';
import { waveformPass } from './waveform-pass';

export { isFfmpegTarget, PROBE_ONLY_TARGETS, targetsWithoutRecipe } from './conversion-recipes';
export { HLS_MASTER_NAME, planRenditions, type HlsRendition } from './hls-passes';
export {
  toArgs,
  type BuilderSettings,
  type ConversionPlan,
  type ConversionRequest,
  type FfmpegPass,
  type X264Preset,
} from './ffmpeg-pass';
export { jpegQscale } from './image-pass';

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
    case 'hls': {
      const hls = hlsOptions(target, request.options);
      const renditions = planRenditions(hls.renditions, input);
      return ok(hlsPass(renditions, hls.segmentS, trim, request, settings), trim.expectedDurationS);
    }
    case 'waveform':
      return ok(waveformPass(options, trim, request, settings), trim.expectedDurationS);
  }
}

function ok(pass: FfmpegPass, expectedDurationS: number | null): ConversionPlan {
  return { kind: 'ok', passes: [pass], expectedDurationS };
}

function unsupported(message: string): ConversionPlan {
  return { kind: 'unsupported', code: 'unsupported_media_type', message };
}
