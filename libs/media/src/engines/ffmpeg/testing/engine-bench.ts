// The workbench of the ffmpeg engine's specs against the real ffmpeg/ffprobe: inputs generated with
// lavfi sources (testsrc2 + sine), an engine with generous limits, a request into a fresh empty
// folder, and ffprobe's own JSON to compare with.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findTarget, type ConversionOptions } from '@kiln/contracts';
import type { MediaLimits } from '../../../media-limits';
import type { EngineRequest, InputFacts } from '../../engine';
import { FfmpegEngine } from '../ffmpeg-engine';

const exec = promisify(execFile);

export const LIMITS: MediaLimits = {
  maxPixels: 50_000_000,
  maxDimension: 16_384,
  maxDurationS: 3_600,
  maxAudioChannels: 8,
  maxSampleRate: 192_000,
  maxOutputBytes: 1024 ** 3,
  maxOutputRatio: 0,
  outputRatioFloorBytes: 0,
};

export function makeEngine(limits: Partial<MediaLimits> = {}): FfmpegEngine {
  return new FfmpegEngine({ preset: 'ultrafast', threads: 2, limits: { ...LIMITS, ...limits } });
}

/** A WAV from an `aevalsrc` expression per channel (e.g. `sin(440*2*PI*t)|0`: sound left, silence right). */
export async function makeWav(path: string, expression: string, seconds: number): Promise<string> {
  await exec('ffmpeg', [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `aevalsrc=${expression}:s=44100:d=${seconds}`,
    '-c:a',
    'pcm_s16le',
    path,
  ]);
  return path;
}

/** A request for `target` into a new empty folder under `root`, with the engine's own probe as facts. */
export async function request(
  engine: FfmpegEngine,
  root: string,
  inputPath: string,
  target: string,
  options: ConversionOptions = {},
): Promise<EngineRequest> {
  const spec = findTarget(target);
  if (!spec) throw new Error(`no catalog target ${target}`);
  const facts: InputFacts = await engine.probe(inputPath, { timeoutMs: 10_000 });
  return {
    target: spec,
    options,
    inputPath,
    outputDir: await mkdtemp(join(root, `${target}-`)),
    baseName: 'clip',
    facts,
  };
}

export interface FfprobeAnswer {
  format: Record<string, unknown> & { tags?: Record<string, string> };
  streams: Array<Record<string, unknown> & { tags?: Record<string, string> }>;
  programs?: Array<{ streams: Array<Record<string, unknown>> }>;
}

/** ffprobe's JSON for `url` (a path, or `file:…` for a playlist), with `extra` arguments before `-i`. */
export async function ffprobe(url: string, extra: string[] = []): Promise<FfprobeAnswer> {
  const { stdout } = await exec('ffprobe', [
    '-v',
    'error',
    ...extra,
    '-print_format',
    'json',
    '-show_format',
    '-show_streams',
    '-show_programs',
    '-i',
    url,
  ]);
  return JSON.parse(stdout) as FfprobeAnswer;
}

/** Whether the first video frame of a file (a segment) is a keyframe, as ffprobe decodes it. */
export async function firstFrameIsKey(path: string): Promise<boolean> {
  const { stdout } = await exec('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-read_intervals',
    '%+#1',
    '-show_entries',
    'frame=key_frame',
    '-of',
    'default=noprint_wrappers=1:nokey=1',
    path,
  ]);
  return stdout.trim() === '1';
}

/** Every file under `dir`, relative and `/`-separated, sorted. */
export async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const name = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesUnder(dir, name)));
    else out.push(name);
  }
  return out.sort();
}
