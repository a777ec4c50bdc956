/**
 * The thin half of "ffmpeg split in two": executes the builder's passes with fluent-ffmpeg,
 * reports progress, and enforces the time, cancel and size limits. fluent-ffmpeg stays in this
 * file (and nowhere else) so it can be swapped.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { rm, stat } from 'node:fs/promises';
import ffmpeg from 'fluent-ffmpeg';
import type { FfmpegPass } from './command-builder';
import { MediaError } from './media-error';
import { refusedFormat, refusedFormatMessage } from './input-formats';
import { pixelLimitRefusal } from './media-limits';
import { memoryLimitMessage, PRLIMIT, prlimitPrefix, ranOutOfMemory } from './memory-limit';
import { checkOutput, RunControl, type RunOptions } from './run-control';
import { parseProgress, ProgressReporter } from './run-progress';
import { lastLines } from './stderr-tail';
import { exitOfFluentError, toolFault } from './tool-exit';

export type { RunOptions } from './run-control';

export interface RunResult {
  durationMs: number;
}

let running = 0;

/** ffmpeg processes alive right now in this process (for metrics). */
export function runningProcessCount(): number {
  return running;
}

/**
 * Options the runner owns: quiet stderr (errors only, for the error tail) and machine-readable
 * progress on stdout instead of the stats line.
 */
const RUNNER_OPTIONS = ['-loglevel', 'error', '-nostats', '-progress', 'pipe:1'];

/** ffmpeg to run: the option, else `FFMPEG_PATH` (as fluent-ffmpeg reads it), else `ffmpeg` on PATH. */
function ffmpegPathOf(options: RunOptions): string {
  return options.ffmpegPath ?? (process.env.FFMPEG_PATH || 'ffmpeg');
}

/**
 * Runs the passes in order. Any failure removes the outputs written so far and rejects with a
 * MediaError: `unprocessable` (ffmpeg failed on this input; `stderrTail` says why), `timeout`,
 * `canceled`, `payload_too_large`, `infrastructure` (a fault of the machine, not the input: ffmpeg
 * died by a signal, or the disk was full or failed; see tool-exit.ts), or `internal` (ffmpeg missing).
 */
export async function run(passes: readonly FfmpegPass[], options: RunOptions): Promise<RunResult> {
  if (passes.length === 0) throw new MediaError('internal', 'run: no ffmpeg pass to run');
  const started = Date.now();
  const control = new RunControl(options);
  try {
    if (options.signal?.aborted) throw new MediaError('canceled', 'conversion canceled');
    await ensureFfmpeg(ffmpegPathOf(options), options.memoryLimitBytes);
    const progress = new ProgressReporter(passes.length, options.durationS ?? null, options.onProgress);
    for (const [i, pass] of passes.entries()) {
      if (control.reason) throw control.error(control.reason);
      await runPass(pass, i, control, progress, options);
    }
    await checkOutput(options);
    progress.finish();
    return { durationMs: Date.now() - started };
  } catch (err: unknown) {
    await Promise.all(passes.map((p) => rm(p.output, { force: true }).catch(() => undefined)));
    throw err;
  } finally {
    control.dispose();
  }
}

function runPass(
  pass: FfmpegPass,
  index: number,
  control: RunControl,
  progress: ProgressReporter,
  options: RunOptions,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // The variadic calls keep fluent-ffmpeg from splitting an option that contains one space.
    const period = options.progressIntervalS !== undefined ? ['-stats_period', String(options.progressIntervalS)] : [];
    // Under a memory limit the process fluent-ffmpeg starts is `prlimit --data=N -- <ffmpeg> …`:
    // fluent-ffmpeg puts the first input's options first, so the launcher's arguments and the real
    // ffmpeg path lead them. prlimit execs ffmpeg in the same process (same pid, signals, pipes).
    const ffmpegPath = ffmpegPathOf(options);
    const memoryLimit = options.memoryLimitBytes || undefined;
    const launcher = memoryLimit ? [...prlimitPrefix(memoryLimit), ffmpegPath] : [];
    const command = ffmpeg(pass.input, { stdoutLines: 40 })
      .setFfmpegPath(memoryLimit ? PRLIMIT : ffmpegPath)
      .inputOptions(...launcher, ...RUNNER_OPTIONS, ...period, ...pass.inputOptions)
      .output(pass.output);
    if (pass.outputOptions.length > 0) command.outputOptions(...pass.outputOptions);

    let proc: ChildProcess | undefined;
    let exited = false;
    let killTimer: NodeJS.Timeout | undefined;
    let sizeTimer: NodeJS.Timeout | undefined;
    let settled = false;

    const cleanup = () => {
      clearTimeout(killTimer);
      clearInterval(sizeTimer);
      control.detach();
    };

    command.on('start', () => {
      proc = (command as unknown as { ffmpegProc?: ChildProcess }).ffmpegProc;
      const pid = proc?.pid;
      if (!proc || pid === undefined) return; // spawn failed; fluent-ffmpeg reports it as 'error'
      running += 1;
      proc.once('exit', () => {
        exited = true;
        running -= 1;
      });
      options.onStart?.(pid);
      if (index === 0) progress.start();
      proc.stdout?.on('data', parseProgress(index, progress));

      control.attach(() => {
        if (exited || !proc) return;
        proc.kill('SIGTERM');
        killTimer = setTimeout(() => {
          if (!exited) proc?.kill('SIGKILL');
        }, options.killGraceMs ?? 1000);
      });

      const cap = options.maxOutputBytes;
      if (cap !== undefined) {
        sizeTimer = setInterval(() => {
          outputSize(pass, options)
            .then((size) => {
              if (size > cap) control.stop('payload_too_large');
            })
            .catch(() => undefined); // not created yet
        }, options.sizeCheckIntervalMs ?? 250);
      }
    });

    command.on('error', (err: Error, _stdout: string | null, stderr: string | null) => {
      if (settled) return;
      settled = true;
      cleanup();
      const tail = lastLines(stderr ?? '', pass.input, pass.output);
      if (control.reason) return reject(control.error(control.reason, tail));
      if (!proc || /Cannot find ffmpeg|ENOENT|^prlimit: /m.test(`${err.message}\n${stderr ?? ''}`)) {
        return reject(new MediaError('internal', `ffmpeg could not start: ${err.message}`, tail, { cause: err }));
      }
      const text = stderr ?? '';
      if (memoryLimit && ranOutOfMemory(text)) {
        return reject(
          new MediaError('unprocessable', memoryLimitMessage(memoryLimit), tail, { cause: err, limit: 'memory' }),
        );
      }
      // A signal, a full disk or an I/O error: the machine failed, not the input.
      const fault = toolFault('ffmpeg', { ...exitOfFluentError(err.message), stderr: text });
      if (fault)
        return reject(new MediaError('infrastructure', fault.message, tail, { cause: err, fault: fault.fault }));
      const format = refusedFormat(stderr ?? '');
      if (format) return reject(new MediaError('unprocessable', refusedFormatMessage(format), tail, { cause: err }));
      const tooLarge = /Picture size (\d+)x(\d+) exceeds specified max pixel count (\d+)/.exec(stderr ?? '');
      if (tooLarge) {
        const refusal = pixelLimitRefusal(Number(tooLarge[1]), Number(tooLarge[2]), Number(tooLarge[3]));
        return reject(new MediaError('unprocessable', refusal.message, tail, { cause: err, limit: 'pixels' }));
      }
      reject(
        new MediaError('unprocessable', `ffmpeg could not convert the input${reasonOf(tail)}`, tail, { cause: err }),
      );
    });

    command.on('end', (_stdout: string | null, stderr: string | null) => {
      if (settled) return;
      settled = true;
      cleanup();
      // A stop that raced a clean finish still wins: the caller asked for it (or the limit passed).
      if (control.reason) return reject(control.error(control.reason));
      // ffmpeg can exit 0 after a failed write (a Matroska trailer on a full disk): the file is cut short.
      const fault = toolFault('ffmpeg', { signal: null, exitCode: 0, stderr: stderr ?? '' });
      if (fault) {
        const tail = lastLines(stderr ?? '', pass.input, pass.output);
        return reject(new MediaError('infrastructure', fault.message, tail, { fault: fault.fault }));
      }
      outputSize(pass, options)
        .then((size) => {
          if (options.maxOutputBytes !== undefined && size > options.maxOutputBytes) {
            return reject(control.error('payload_too_large'));
          }
          progress.passDone(index);
          resolve();
        })
        .catch(() => {
          reject(new MediaError('unprocessable', 'ffmpeg wrote no output (e.g. a time past the end of the input)'));
        });
    });

    command.run();
  });
}

/** The bytes written so far: the caller's measure for a many-file output, else the pass's output file. */
async function outputSize(pass: FfmpegPass, options: RunOptions): Promise<number> {
  if (options.outputBytes) return options.outputBytes();
  return (await stat(pass.output)).size;
}

const verified = new Map<string, Promise<void>>();

/**
 * Runs `ffmpeg -version` once per path (and memory limit: through prlimit, which must exist then).
 * fluent-ffmpeg 2.1.3 cannot report a binary that fails to spawn (ENOENT): its handler throws on a
 * missing buffer and the command never ends.
 */
function ensureFfmpeg(path: string, memoryLimit: number | undefined): Promise<void> {
  const key = `${memoryLimit || 0}:${path}`;
  let check = verified.get(key);
  if (!check) {
    const [command, args] = memoryLimit ? [PRLIMIT, [...prlimitPrefix(memoryLimit), path]] : [path, []];
    check = new Promise<void>((resolve, reject) => {
      execFile(
        command,
        [...args, '-hide_banner', '-version'],
        { timeout: 10_000, killSignal: 'SIGKILL' },
        (err, _out, errOut) => {
          if (!err) return resolve();
          const how = memoryLimit
            ? ` under ${PRLIMIT} (util-linux; needed for KILN_FFMPEG_MEMORY_LIMIT, 0 turns the limit off)`
            : '';
          reject(
            new MediaError(
              'internal',
              `ffmpeg is not runnable at ${path}${how}: ${err.message} ${String(errOut).trim()}`.trim(),
              undefined,
              { cause: err },
            ),
          );
        },
      );
    })
      .then(() => (memoryLimit ? primeCapabilities(path) : undefined))
      .catch((err: unknown) => {
        verified.delete(key);
        throw err;
      });
    verified.set(key, check);
  }
  return check;
}

/**
 * Before each run fluent-ffmpeg lists ffmpeg's formats and encoders (`<path> -formats`,
 * `<path> -encoders`) and keeps the answers process-wide. Under a memory limit its path is
 * `prlimit`, which knows neither flag, so the lists are read once from the real ffmpeg first.
 */
function primeCapabilities(path: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const command = ffmpeg().setFfmpegPath(path);
    command.availableFormats((formatsErr) => {
      if (formatsErr)
        return reject(new MediaError('internal', `ffmpeg at ${path} did not list its formats: ${formatsErr.message}`));
      command.availableEncoders((encodersErr) => {
        if (encodersErr)
          return reject(
            new MediaError('internal', `ffmpeg at ${path} did not list its encoders: ${encodersErr.message}`),
          );
        resolve();
      });
    });
  });
}

/** ffmpeg's last error line, e.g. ": <input>: Invalid data found when processing input". */
function reasonOf(tail: string): string {
  const line = tail
    .split('\n')
    .filter((l) => l && !/^Conversion failed!?$/.test(l))
    .pop();
  return line ? `: ${line}` : '';
}
