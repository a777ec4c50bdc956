/**
 * How an ffmpeg or ffprobe run that Kiln did not stop itself ended, judged from its exit: a fault of
 * the machine it ran on, or a verdict on the input. Faults of the machine are retried (elsewhere,
 * if another converter takes the unit) and never reported as the user's file being bad:
 * - a death by signal: SIGKILL (the kernel's or a container's out-of-memory killer), SIGSEGV,
 *   SIGBUS, SIGABRT… (a crash), or a stop Kiln did not ask for. ffmpeg catches SIGTERM, SIGINT and
 *   SIGQUIT and exits with code 255 instead, printing nothing at `-loglevel error`;
 * - ENOSPC or EDQUOT ("No space left on device", "Disk quota exceeded"): the converter's disk;
 * - EIO ("Input/output error"): reading or writing a local file failed in the kernel. ffmpeg opens
 *   only local files here (`-protocol_whitelist file`), and a damaged input is reported as invalid
 *   data, not as EIO (checked against truncated and corrupted files of 13 formats).
 * A run that ran out of its own memory limit (memory-limit.ts) is judged before this, from the
 * failed allocation it reports; a crash alone is not taken as that.
 */

export type InfrastructureFault = 'signal' | 'no_space' | 'io_error';

export interface ToolExit {
  /** The signal that ended the process (`SIGSEGV`), if one did. */
  signal: string | null;
  /** Its exit code, when it exited (0 included). */
  exitCode: number | null;
  /** What it wrote to stderr (at `-loglevel error`: its errors). */
  stderr: string;
}

export interface ToolFault {
  fault: InfrastructureFault;
  /** Names the tool and the cause, e.g. "ffmpeg crashed (killed by SIGSEGV)". */
  message: string;
}

/** strerror(ENOSPC) and strerror(EDQUOT), as ffmpeg prints them (av_err2str). */
const NO_SPACE = /No space left on device|Disk quota exceeded/;
/** strerror(EIO). */
const IO_ERROR = /Input\/output error/;
const CRASHES = new Set(['SIGSEGV', 'SIGBUS', 'SIGABRT', 'SIGILL', 'SIGFPE', 'SIGSYS', 'SIGTRAP']);
/** ffmpeg's exit code after it caught SIGTERM, SIGINT or SIGQUIT (fftools: `received_nb_signals ? 255`). */
const FFMPEG_STOPPED_BY_SIGNAL = 255;

/** What a signal that ended a tool most likely means. */
export function signalMeaning(signal: string): string {
  if (signal === 'SIGKILL') return 'killed by SIGKILL: most likely the out-of-memory killer';
  if (CRASHES.has(signal)) return `crashed (killed by ${signal})`;
  return `killed by ${signal}, a signal Kiln did not send`;
}

/**
 * The fault of the machine that ended this run, or null when the exit says nothing about the
 * machine (then the input is to blame: a decode or format error stays `unprocessable`). Also for an
 * exit code 0: ffmpeg 5.1 exits 0 after it failed to write a Matroska trailer on a full disk.
 */
export function toolFault(tool: 'ffmpeg' | 'ffprobe', exit: ToolExit): ToolFault | null {
  if (NO_SPACE.test(exit.stderr))
    return { fault: 'no_space', message: `${tool} could not write: no space left on the converter's disk (ENOSPC)` };
  if (IO_ERROR.test(exit.stderr))
    return { fault: 'io_error', message: `${tool} hit an input/output error on the converter's disk (EIO)` };
  if (exit.signal) return { fault: 'signal', message: `${tool} ${signalMeaning(exit.signal)}` };
  if (tool === 'ffmpeg' && exit.exitCode === FFMPEG_STOPPED_BY_SIGNAL)
    return {
      fault: 'signal',
      message: `ffmpeg was stopped by a signal Kiln did not send (exit code ${FFMPEG_STOPPED_BY_SIGNAL})`,
    };
  return null;
}

/** The signal and exit code in fluent-ffmpeg's error ("ffmpeg was killed with signal SIGKILL", "ffmpeg exited with code 1: …"). */
export function exitOfFluentError(message: string): Pick<ToolExit, 'signal' | 'exitCode'> {
  const signal = /killed with signal (\w+)/.exec(message)?.[1] ?? null;
  const code = /exited with code (\d+)/.exec(message)?.[1];
  return { signal, exitCode: code === undefined ? null : Number(code) };
}
