/**
 * The argument pieces every pass shares: the input guards before `-i`, stream maps, free scaling,
 * threads, and numbers written the way ffmpeg reads them.
 */
import type { BuilderSettings } from './ffmpeg-pass';
import { INPUT_RESTRICTIONS } from './input-formats';
import type { MediaInfo } from './media-info';

/**
 * Before `-i`: the protocol and demuxer whitelists (input-formats.ts) and the decoder's pixel cap
 * are input options and must precede the input they guard.
 */
export function inputGuards(settings: BuilderSettings): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-y',
    ...INPUT_RESTRICTIONS,
    ...(settings.maxPixels ? ['-max_pixels', String(settings.maxPixels)] : []),
  ];
}

export function videoMap(input: MediaInfo): string {
  return input.video_stream_index === null ? '0:v:0' : `0:${input.video_stream_index}`;
}

export function audioMap(input: MediaInfo): string {
  return input.audio_stream_index === null ? '0:a:0' : `0:${input.audio_stream_index}`;
}

/** Scaling for formats that take any size (gif, stills). */
export function freeScale(o: { width?: number; height?: number }, flags: string): string | null {
  const { width: w, height: h } = o;
  if (w !== undefined && h !== undefined) return `scale=${w}:${h}:flags=${flags},setsar=1`;
  if (w !== undefined) return `scale=${w}:-1:flags=${flags}`;
  if (h !== undefined) return `scale=-1:${h}:flags=${flags}`;
  return null;
}

export function threads(settings: BuilderSettings): string[] {
  return settings.threads !== undefined && settings.threads > 0 ? ['-threads', String(settings.threads)] : [];
}

export function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** Seconds as ffmpeg reads them, without float noise (0.30000000000000004 → "0.3"). */
export function num(n: number): string {
  return String(round3(n));
}

export function isString(v: string | null): v is string {
  return v !== null;
}
