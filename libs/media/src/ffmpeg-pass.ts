/**
 * What the builder hands the runner: one ffmpeg run as four parts, the deployment's settings that
 * shape it, and the plan (the passes, or why there are none).
 */
import type { ConversionOptions, TargetSpec } from '@kiln/contracts';
import type { MediaInfo } from './media-info';

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
