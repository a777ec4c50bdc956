/**
 * What a run may do and how it is stopped: its options, the deadline and the abort signal shared by
 * its passes, and the final output check (exists, not empty, within the size cap).
 */
import { stat } from 'node:fs/promises';
import { MediaError } from './media-error';
import { formatBytes } from './memory-limit';

export interface RunOptions {
  /** How long the output should play (the plan's `expectedDurationS`); without it progress jumps to 100 at the end. */
  durationS?: number | null;
  /** Whole percents 0-100, never decreasing; 100 only once every pass has succeeded. */
  onProgress?: (percent: number) => void;
  /** For all passes together. Past it ffmpeg gets SIGTERM, then SIGKILL; rejects MediaError('timeout'). */
  timeoutMs: number;
  /** Aborting stops ffmpeg the same way; rejects MediaError('canceled'). */
  signal?: AbortSignal;
  /** Cap on each output file, watched while ffmpeg writes and checked at the end; rejects MediaError('payload_too_large'). */
  maxOutputBytes?: number;
  /** Names that cap in the error, e.g. "256 MiB for this 1 MiB input (KILN_MAX_OUTPUT_RATIO …)". */
  maxOutputDescription?: string;
  /**
   * ffmpeg runs under this memory limit (memory-limit.ts: `prlimit --data`); running out of it
   * rejects MediaError('unprocessable', limit 'memory'). Undefined or 0: no limit.
   */
  memoryLimitBytes?: number;
  /** The final output (the last pass writes it); checked to exist and be non-empty. */
  outputPath: string;
  /** Default `ffmpeg` on PATH. Set on every run: fluent-ffmpeg keeps the path process-wide. */
  ffmpegPath?: string;
  /** Seconds between progress reports (ffmpeg's `-stats_period`, default 0.5). */
  progressIntervalS?: number;
  /** Between SIGTERM (ffmpeg closes its output cleanly) and SIGKILL. Default 1000 ms. */
  killGraceMs?: number;
  /** How often the output size is checked while ffmpeg runs. Default 250 ms. */
  sizeCheckIntervalMs?: number;
  /** Called with each ffmpeg child's pid as it starts. */
  onStart?: (pid: number) => void;
  /**
   * The bytes the output holds so far, for an output of many files (HLS: playlists and segments):
   * the size cap is checked against it while ffmpeg writes and at the end. Default: the size of
   * the pass's output file.
   */
  outputBytes?: () => Promise<number>;
}

export type StopReason = 'timeout' | 'canceled' | 'payload_too_large';

/** Shared by the passes: the deadline and the abort signal stop whichever process is current. */
export class RunControl {
  reason: StopReason | null = null;
  private current: ((reason: StopReason) => void) | null = null;
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort = () => this.stop('canceled');

  constructor(private readonly options: RunOptions) {
    this.timer = setTimeout(() => this.stop('timeout'), options.timeoutMs);
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  stop(reason: StopReason): void {
    if (this.reason) return;
    this.reason = reason;
    this.current?.(reason);
  }

  /** The current process's stop function; called at once when a stop came before it started. */
  attach(stopProcess: (reason: StopReason) => void): void {
    this.current = stopProcess;
    if (this.reason) stopProcess(this.reason);
  }

  detach(): void {
    this.current = null;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.options.signal?.removeEventListener('abort', this.onAbort);
  }

  error(reason: StopReason, tail?: string): MediaError {
    switch (reason) {
      case 'timeout':
        return new MediaError('timeout', `conversion took longer than ${this.options.timeoutMs} ms`, tail);
      case 'canceled':
        return new MediaError('canceled', 'conversion canceled', tail);
      case 'payload_too_large':
        return new MediaError('payload_too_large', outputLimitMessage(this.options), tail, { limit: 'output_size' });
    }
  }
}

function outputLimitMessage(options: RunOptions): string {
  const cap = options.maxOutputDescription ?? `${formatBytes(options.maxOutputBytes ?? 0)}`;
  return `output size limit exceeded: the output grew past ${cap}`;
}

export async function checkOutput(options: RunOptions): Promise<void> {
  const { outputPath: path, maxOutputBytes: max } = options;
  let size: number;
  try {
    size = (await stat(path)).size;
    if (options.outputBytes) size = Math.max(size, await options.outputBytes());
  } catch (err: unknown) {
    throw new MediaError('unprocessable', 'ffmpeg wrote no output (e.g. a time past the end of the input)', undefined, {
      cause: err,
    });
  }
  if (size === 0) {
    throw new MediaError('unprocessable', 'ffmpeg wrote an empty output: nothing in the input could be converted');
  }
  if (max !== undefined && size > max) {
    throw new MediaError('payload_too_large', outputLimitMessage(options), undefined, { limit: 'output_size' });
  }
}
