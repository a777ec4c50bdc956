/** A target's options as numbers (the catalog's defaults filled in), and the trim they ask for. */
import type { ConversionOptions, TargetSpec } from '@kiln/contracts';
import { num, round3 } from './ffmpeg-args';
import type { MediaInfo } from './media-info';

export interface Resolved {
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
export function resolveOptions(target: TargetSpec, given: ConversionOptions): Resolved {
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

export interface Trim {
  inputOptions: string[];
  expectedDurationS: number | null;
}

/** `start` seeks the input (`-ss` before `-i`), `duration` limits what is read (`-t` before `-i`). */
export function planTrim(o: Resolved, input: MediaInfo): Trim | { field: string; message: string } {
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
