// Media for the conversion cases, generated with ffmpeg's lavfi sources (nothing binary checked in),
// and the bare-ffmpeg baseline: the converter's very command, built by libs/media's builder.
import { execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseConfig } from '../libs/config/src/config';
import { findTarget } from '../libs/contracts/src';
import { buildConversion, toArgs, type X264Preset } from '../libs/media/src/command-builder';
import { probe } from '../libs/media/src/probe';
import { TMP_DIR, nowMs, sleep } from './bench-kit';

function ffmpeg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      'ffmpeg',
      ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args],
      { timeout: 600_000 },
      (err, _out, stderr) => (err ? reject(new Error(`ffmpeg failed: ${err.message}\n${stderr}`)) : resolve()),
    );
  });
}

/** A `seconds` long 720p30 clip: testsrc2 + a 440 Hz sine, H.264/AAC in MP4 (made once, reused). */
export async function clip720p(seconds: number): Promise<string> {
  await mkdir(TMP_DIR, { recursive: true });
  const file = path.join(TMP_DIR, `clip-720p-${seconds}s.mp4`);
  if (await stat(file).catch(() => null)) return file;
  const partial = `${file}.partial.mp4`;
  await ffmpeg([
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=1280x720:rate=30:duration=${seconds}`,
    '-f',
    'lavfi',
    '-i',
    `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-pix_fmt',
    'yuv420p',
    '-c:a',
    'aac',
    '-b:a',
    '128k',
    '-ac',
    '2',
    '-movflags',
    '+faststart',
    '-shortest',
    partial,
  ]);
  await copyFile(partial, file);
  await rm(partial, { force: true });
  return file;
}

/** A 96×96 testsrc2 frame as PNG: 2 KiB (2,048 bytes with Debian 12's ffmpeg 5.1). */
export async function smallPng(): Promise<string> {
  await mkdir(TMP_DIR, { recursive: true });
  const file = path.join(TMP_DIR, 'small-96x96.png');
  if (await stat(file).catch(() => null)) return file;
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=96x96:rate=1', '-frames:v', '1', file]);
  return file;
}

/**
 * What libs/media's runner puts in front of the builder's input options (RUNNER_OPTIONS in
 * runner.ts), and where fluent-ffmpeg puts `-y`: after the inputs, before the output options.
 * The cases compare this with the command line of the converter's own ffmpeg (from /proc).
 */
const RUNNER_OPTIONS = ['-loglevel', 'error', '-nostats', '-progress', 'pipe:1'];

export interface BareCommand {
  /** ffmpeg's arguments (without `ffmpeg`). */
  args: string[];
  dir: string;
  outputPath: string;
}

/**
 * The converter's command for `file` → `target`, built the way the converter builds it: probe,
 * then buildConversion with the deployment settings (KILN_FFMPEG_PRESET, KILN_FFMPEG_THREADS) read
 * from the converter's own environment. The input is copied to `<dir>/input` as the converter does.
 */
export async function bareCommand(file: string, target: string, appEnv: Record<string, string>): Promise<BareCommand> {
  const spec = findTarget(target);
  if (!spec) throw new Error(`unknown target ${target}`);
  const config = parseConfig(appEnv);
  await mkdir(TMP_DIR, { recursive: true });
  const dir = await mkdtemp(path.join(TMP_DIR, 'bare-'));
  const inputPath = path.join(dir, 'input');
  await copyFile(file, inputPath);
  const media = await probe(inputPath, { timeoutMs: 60_000 });
  const outputPath = path.join(dir, `output.${spec.extension}`);
  const plan = buildConversion(
    { target: spec, options: {}, input: media, inputPath, outputPath },
    { preset: config.KILN_FFMPEG_PRESET as X264Preset, threads: config.KILN_FFMPEG_THREADS || undefined },
  );
  if (plan.kind !== 'ok') throw new Error(`the builder refused: ${plan.message}`);
  const [pass] = plan.passes;
  const flat = toArgs(pass); // [...inputOptions, '-i', input, ...outputOptions, output]
  const inputEnd = pass.inputOptions.length + 2;
  const args = [...RUNNER_OPTIONS, ...flat.slice(0, inputEnd), '-y', ...flat.slice(inputEnd)];
  return { args, dir, outputPath };
}

/** Runs ffmpeg with `args`; resolves with its wall time in ms (spawn → exit). */
export function timeFfmpeg(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = nowMs();
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(nowMs() - t0) : reject(new Error(`ffmpeg exited ${code}: ${stderr.slice(-500)}`)),
    );
  });
}

/** ffprobe as the converter runs it (libs/media probe), timed. */
export async function timeProbe(file: string): Promise<number> {
  const t0 = nowMs();
  await probe(file, { timeoutMs: 60_000 });
  return nowMs() - t0;
}

export interface SeenFfmpeg {
  /** Its argument list (from /proc/<pid>/cmdline, without `ffmpeg`). */
  args: string[];
  /** When it started and exited (epoch ms; start ±10 ms from /proc, exit ±20 ms by polling). */
  startEpochMs: number;
  exitEpochMs: number;
}

async function childPids(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const lists = await Promise.all(
    tasks.map((t) => readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '')),
  );
  return lists.join(' ').split(/\s+/).filter(Boolean).map(Number);
}

/** Epoch ms of the machine's boot, to 10 ms (from /proc/uptime, not btime's whole seconds). */
async function bootEpochMs(): Promise<number> {
  const up = Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]);
  return Date.now() - up * 1000;
}

/**
 * Watches a converter process for its conversion's ffmpeg child (one with an input: not the
 * `ffmpeg -version` check) and reports its command line, start and exit. Polls /proc every 20 ms
 * (file reads only, no process spawned). `stop()` ends the wait when none has been seen.
 */
export function watchFfmpegOf(parentPid: number): { seen: Promise<SeenFfmpeg | null>; stop: () => void } {
  let stopped = false;
  const seen = (async (): Promise<SeenFfmpeg | null> => {
    const boot = await bootEpochMs();
    while (!stopped) {
      for (const pid of await childPids(parentPid)) {
        const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
        if (comm !== 'ffmpeg') continue;
        const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''))
          .split('\0')
          .filter(Boolean)
          .slice(1);
        if (!args.includes('-i')) continue;
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
        const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
        for (;;) {
          const now = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
          if (!now || now.slice(now.lastIndexOf(')') + 2)[0] === 'Z') break;
          await sleep(20);
        }
        return { args, startEpochMs: boot + startTicks * 10, exitEpochMs: Date.now() };
      }
      await sleep(20);
    }
    return null;
  })();
  return {
    seen,
    stop: () => {
      stopped = true;
    },
  };
}

/** Whether two ffmpeg argument lists are the same command, each with its own working folder. */
export function sameCommand(a: string[], aDir: string, b: string[], bDir: string): { same: boolean; diff: string[] } {
  const norm = (args: string[], dir: string) => args.map((x) => x.split(dir).join('<dir>'));
  const x = norm(a, aDir);
  const y = norm(b, bDir);
  const diff: string[] = [];
  for (let i = 0; i < Math.max(x.length, y.length); i++)
    if (x[i] !== y[i]) diff.push(`#${i}: ${x[i] ?? '∅'} ≠ ${y[i] ?? '∅'}`);
  return { same: diff.length === 0, diff };
}
