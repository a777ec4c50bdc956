// The workbench of the media specs against the real ffmpeg/ffprobe (runner.*.int-spec.ts): generated
// inputs in a work folder, a convert() that plans and runs a catalog target and probes the result, and
// checks on processes and files.
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { findTarget, type ConversionOptions } from '@kiln/contracts';
import { buildConversion, probe, run, type MediaInfo, type RunOptions } from '../index';
import { makeAudio, makeImage, makeTempDir, makeVideo } from './fixtures';

export const FFMPEG = 'ffmpeg';
export const PROBE = { timeoutMs: 10_000 };

/** The work folder of the running spec file, and its probed inputs (filled in by useMediaInputs). */
export let dir: string;
let removeDir: () => Promise<void>;
export const inputs: Record<'video' | 'silent' | 'audio' | 'image', { path: string; info: MediaInfo }> = {} as never;

/** Generates the inputs (a video, a silent video, a wav, a png) before the file's tests and removes them after. */
export function useMediaInputs(): void {
  beforeAll(async () => {
    ({ dir, remove: removeDir } = await makeTempDir());
    const paths = {
      video: await makeVideo({ path: join(dir, 'video.mp4'), seconds: 2, width: 320, height: 240, audio: true }),
      silent: await makeVideo({ path: join(dir, 'silent.mkv'), seconds: 2, width: 320, height: 240, audio: false }),
      audio: await makeAudio({ path: join(dir, 'audio.wav'), seconds: 2, format: 'wav' }),
      image: await makeImage({ path: join(dir, 'image.png'), width: 320, height: 240 }),
    };
    for (const [name, path] of Object.entries(paths)) {
      inputs[name as keyof typeof inputs] = { path, info: await probe(path, PROBE) };
    }
  });

  afterAll(async () => {
    await removeDir?.();
  });
}

let outputs = 0;
export function outputPath(extension: string): string {
  outputs += 1;
  return join(dir, `out-${outputs}.${extension}`);
}

export async function convert(
  targetName: string,
  inputName: keyof typeof inputs | { path: string; info: MediaInfo },
  options: ConversionOptions = {},
  runOptions: Partial<RunOptions> = {},
): Promise<{ path: string; info: MediaInfo; raw: RawProbe }> {
  const target = findTarget(targetName)!;
  const path = outputPath(target.extension);
  const input = typeof inputName === 'string' ? inputs[inputName] : inputName;
  const plan = buildConversion(
    { target, options, input: input.info, inputPath: input.path, outputPath: path },
    { preset: 'ultrafast', threads: 2 },
  );
  if (plan.kind !== 'ok') throw new Error(`${targetName}: ${plan.message}`);
  await run(plan.passes, {
    timeoutMs: 20_000,
    outputPath: path,
    durationS: plan.expectedDurationS,
    ffmpegPath: FFMPEG,
    ...runOptions,
  });
  return { path, info: await probe(path, PROBE), raw: await rawProbe(path) };
}

export interface RawProbe {
  format: { format_name: string; tags?: Record<string, string> };
  streams: Array<{ codec_type: string; codec_name: string; channels?: number; sample_rate?: string; pix_fmt?: string }>;
}

export function rawProbe(path: string): Promise<RawProbe> {
  return new Promise((resolve, reject) => {
    execFile('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', path], (err, out) =>
      err ? reject(err) : resolve(JSON.parse(out) as RawProbe),
    );
  });
}

export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err: unknown) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
