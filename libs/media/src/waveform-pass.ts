/**
 * The waveform target: the audio stream drawn by ffmpeg's `showwavespic` as one PNG of width ×
 * height, the wave in the asked colour on a transparent background. One band of the mix by default
 * (the channels are downmixed first), or a band per channel with `split_channels`.
 */
import type { ConversionOptions, TargetSpec } from '@kiln/contracts';
import type { Resolved, Trim } from './conversion-options';
import { audioMap, inputGuards, threads } from './ffmpeg-args';
import type { BuilderSettings, ConversionRequest, FfmpegPass } from './ffmpeg-pass';

/** Colours showwavespic is given by name (all in ffmpeg's colour table); the catalog's enum. */
const DEFAULT_COLOR = 'blue';
/** showwavespic colours channels past its list white: the colour is repeated for this many. */
const MAX_CHANNELS = 8;

export function waveformPass(o: Resolved, trim: Trim, req: ConversionRequest, settings: BuilderSettings): FfmpegPass {
  const { color, split } = waveformStyle(req.target, req.options);
  const width = o.width ?? 1800;
  const height = o.height ?? 280;
  const channels = split ? Math.min(MAX_CHANNELS, Math.max(1, req.input.audio_channels ?? MAX_CHANNELS)) : 1;
  const colors = Array.from({ length: channels }, () => color).join('|');
  const chain = [
    // One mix: downmixed to mono so the picture is one band whatever the layout.
    ...(split ? [] : ['aformat=channel_layouts=mono']),
    `showwavespic=s=${width}x${height}:split_channels=${split ? 1 : 0}:colors=${colors}:filter=peak`,
  ];
  return {
    inputOptions: [...inputGuards(settings), ...trim.inputOptions],
    input: req.inputPath,
    outputOptions: [
      '-filter_complex',
      `[${audioMap(req.input)}]${chain.join(',')}[wave]`,
      '-map',
      '[wave]',
      '-frames:v',
      '1',
      '-c:v',
      'png',
      '-pix_fmt',
      'rgba',
      ...threads(settings),
      '-f',
      'image2',
    ],
    output: req.outputPath,
  };
}

/** The colour and band options (strings and booleans, which Resolved does not carry), defaults from the catalog. */
export function waveformStyle(target: TargetSpec, given: ConversionOptions): { color: string; split: boolean } {
  const colorSpec = target.options.color;
  const splitSpec = target.options.split_channels;
  const color = given.color ?? (colorSpec?.type === 'enum' ? colorSpec.default : undefined) ?? DEFAULT_COLOR;
  const split = given.split_channels ?? (splitSpec?.type === 'boolean' ? splitSpec.default : undefined) ?? false;
  return { color: String(color), split: split === true };
}
