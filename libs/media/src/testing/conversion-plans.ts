// Builders shared by the command-builder specs (command-builder.*.spec.ts): the fixed paths and ffmpeg
// globals every pass starts with, probe results for a video, a silent video, an audio file and a still
// image, and shorthands that plan a catalog target and read its argument list.
import { findTarget, type ConversionOptions, type TargetSpec } from '@kiln/contracts';
import { buildConversion, toArgs, type BuilderSettings, type ConversionPlan } from '../command-builder';
import { ACCEPTED_DEMUXERS } from '../input-formats';
import type { MediaInfo } from '../media-info';

export const IN = '/work/in/source';
export const OUT = '/work/out/result';
export const GLOBAL = [
  '-hide_banner',
  '-nostdin',
  '-y',
  '-protocol_whitelist',
  'file',
  '-format_whitelist',
  ACCEPTED_DEMUXERS.join(','),
];

export const video: MediaInfo = {
  format: 'mov,mp4,m4a,3gp,3g2,mj2',
  duration_s: 10,
  size_bytes: 1_000_000,
  bit_rate: 800_000,
  kind: 'video',
  width: 1920,
  height: 1080,
  fps: 25,
  video_codec: 'h264',
  audio_codec: 'aac',
  audio_channels: 2,
  sample_rate: 44100,
  streams: { video: 1, audio: 1 },
  video_stream_index: 0,
  audio_stream_index: 1,
};
export const silentVideo: MediaInfo = {
  ...video,
  audio_codec: null,
  audio_channels: null,
  sample_rate: null,
  streams: { video: 1, audio: 0 },
  audio_stream_index: null,
};
export const audio: MediaInfo = {
  ...video,
  format: 'mp3',
  kind: 'audio',
  width: null,
  height: null,
  fps: null,
  video_codec: null,
  audio_codec: 'mp3',
  streams: { video: 0, audio: 1 },
  video_stream_index: null,
  audio_stream_index: 0,
};
export const image: MediaInfo = {
  ...video,
  format: 'png_pipe',
  kind: 'image',
  duration_s: null,
  width: 641,
  height: 481,
  fps: null,
  video_codec: 'png',
  audio_codec: null,
  audio_channels: null,
  sample_rate: null,
  streams: { video: 1, audio: 0 },
  video_stream_index: 0,
  audio_stream_index: null,
};

export function target(name: string): TargetSpec {
  const spec = findTarget(name);
  if (!spec) throw new Error(`no catalog target ${name}`);
  return spec;
}

export function plan(
  name: string,
  input: MediaInfo,
  options: ConversionOptions = {},
  settings?: BuilderSettings,
): ConversionPlan {
  return buildConversion({ target: target(name), options, input, inputPath: IN, outputPath: OUT }, settings);
}

/** The single pass's flat argument list. */
export function args(
  name: string,
  input: MediaInfo,
  options: ConversionOptions = {},
  settings?: BuilderSettings,
): string[] {
  const p = plan(name, input, options, settings);
  if (p.kind !== 'ok') throw new Error(`expected ok, got ${p.message}`);
  expect(p.passes).toHaveLength(1);
  return toArgs(p.passes[0]);
}

/** The value after a flag, e.g. flagValue(a, '-vf'). */
export function flagValue(list: string[], flag: string): string | undefined {
  const i = list.indexOf(flag);
  return i < 0 ? undefined : list[i + 1];
}
