/** How each catalog target is executed: its muxer and encoders, grouped by family. */
import { CATALOG, type TargetSpec } from '@kiln/contracts';

export type AudioEncoder = 'aac' | 'libopus' | 'libmp3lame' | 'libvorbis' | 'pcm_s16le' | 'flac';
export type ImageEncoder = 'png' | 'mjpeg' | 'libwebp' | 'bmp' | 'tiff';

export type Recipe =
  | { family: 'video'; muxer: string; video: 'libx264' | 'libvpx-vp9'; audio: AudioEncoder; faststart: boolean }
  | { family: 'gif'; muxer: 'gif' }
  | { family: 'audio'; muxer: string; audio: AudioEncoder; faststart: boolean }
  | { family: 'image'; muxer: string; codec: ImageEncoder }
  | { family: 'hls'; muxer: 'hls' }
  | { family: 'waveform'; muxer: 'image2' };

/** How each catalog target is executed. A catalog target without a recipe is reported, never guessed. */
export const RECIPES: Readonly<Record<string, Recipe>> = {
  mp4: { family: 'video', muxer: 'mp4', video: 'libx264', audio: 'aac', faststart: true },
  mov: { family: 'video', muxer: 'mov', video: 'libx264', audio: 'aac', faststart: true },
  mkv: { family: 'video', muxer: 'matroska', video: 'libx264', audio: 'aac', faststart: false },
  webm: { family: 'video', muxer: 'webm', video: 'libvpx-vp9', audio: 'libopus', faststart: false },
  gif: { family: 'gif', muxer: 'gif' },
  mp3: { family: 'audio', muxer: 'mp3', audio: 'libmp3lame', faststart: false },
  m4a: { family: 'audio', muxer: 'ipod', audio: 'aac', faststart: true },
  ogg: { family: 'audio', muxer: 'ogg', audio: 'libvorbis', faststart: false },
  opus: { family: 'audio', muxer: 'opus', audio: 'libopus', faststart: false },
  wav: { family: 'audio', muxer: 'wav', audio: 'pcm_s16le', faststart: false },
  flac: { family: 'audio', muxer: 'flac', audio: 'flac', faststart: false },
  png: { family: 'image', muxer: 'image2', codec: 'png' },
  jpg: { family: 'image', muxer: 'image2', codec: 'mjpeg' },
  webp: { family: 'image', muxer: 'webp', codec: 'libwebp' },
  bmp: { family: 'image', muxer: 'image2', codec: 'bmp' },
  tiff: { family: 'image', muxer: 'image2', codec: 'tiff' },
  hls: { family: 'hls', muxer: 'hls' },
  waveform: { family: 'waveform', muxer: 'image2' },
};

/** Targets the ffmpeg engine writes from ffprobe's answer alone, without an ffmpeg pass. */
export const PROBE_ONLY_TARGETS: ReadonlySet<string> = new Set(['metadata']);

/** Whether the ffmpeg engine makes `target` from some input kind (the catalog's `engines`). */
export function isFfmpegTarget(target: TargetSpec): boolean {
  return Object.values(target.engines).includes('ffmpeg');
}

/** The catalog targets ffmpeg makes that this builder has no recipe for (a unit test keeps this empty). */
export function targetsWithoutRecipe(): string[] {
  return CATALOG.filter((t) => isFfmpegTarget(t) && !RECIPES[t.target] && !PROBE_ONLY_TARGETS.has(t.target)).map(
    (t) => t.target,
  );
}
