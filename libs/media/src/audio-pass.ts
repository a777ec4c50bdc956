/** Audio targets: the audio stream alone, encoded with the recipe's encoder and the options' rate and layout. */
import type { AudioEncoder, Recipe } from './conversion-recipes';
import type { Resolved, Trim } from './conversion-options';
import { audioMap, inputGuards, threads } from './ffmpeg-args';
import type { BuilderSettings, ConversionRequest, FfmpegPass } from './ffmpeg-pass';

/**
 * libopus accepts only the Vorbis channel layouts (mono, stereo, 3.0, quad, 5.0, 5.1, 6.1, 7.1):
 * ffmpeg's default layouts for 3 and 4 channels (2.1, 4.0) and the common 5.1(side) of AC-3
 * sources fail to open the encoder, so the layout is always negotiated through `aformat`.
 */
const OPUS_LAYOUTS = ['mono', 'stereo', '3.0', 'quad', '5.0', '5.1', '6.1', '7.1'];

export function audioPass(
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

/** The audio encoder's arguments; video targets use them for their audio stream too. */
export function audioEncoding(encoder: AudioEncoder, o: Resolved): string[] {
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
