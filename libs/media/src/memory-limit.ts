/**
 * A memory ceiling for ffmpeg and ffprobe, set by `prlimit` (util-linux) before the tool starts:
 * `prlimit --data=<bytes> -- ffmpeg …` lowers RLIMIT_DATA and then execs the tool in the same
 * process (same pid, so signals and progress work as before).
 *
 * RLIMIT_DATA (Linux ≥ 4.7) counts the private writable memory a process maps: heap, frame
 * buffers, thread stacks. An allocation past it fails (ENOMEM) and the tool stops with an error
 * instead of growing until the machine's OOM killer picks a victim. It counts what is mapped, not
 * what is touched, so it sits above resident memory (measured here: 1.2-2× RSS for image
 * conversions, more with many encoder threads). RLIMIT_AS is not used: it also counts address
 * space merely reserved (malloc arenas, guard pages) and fails legitimate multi-threaded encodes.
 */

/** The launcher: `prlimit` from util-linux, looked up on PATH. */
export const PRLIMIT = 'prlimit';

/** `[command, ...args]` run under the limit; unchanged when there is none (undefined or 0). */
export function limitedCommand(
  tool: string,
  args: readonly string[],
  limitBytes: number | undefined,
): [string, string[]] {
  if (!limitBytes) return [tool, [...args]];
  return [PRLIMIT, [...prlimitPrefix(limitBytes), tool, ...args]];
}

/** The arguments that go before the tool's own path. */
export function prlimitPrefix(limitBytes: number): string[] {
  return [`--data=${Math.floor(limitBytes)}`, '--'];
}

/**
 * What ffmpeg, its libraries and glibc print when an allocation fails: `Cannot allocate memory`
 * (ENOMEM's text, the usual case), the code itself (`-12`), x264's `malloc of size … failed`, a
 * frame-threaded encoder that could not set up its threads, and the out-of-memory wording of
 * libvpx, libwebp and the C++ runtime.
 */
const OUT_OF_MEMORY =
  /Cannot allocate memory|\(-12\b|error code:? -12\b|ENOMEM|out of memory|memory allocation (?:error|failed)|malloc of size \d+ failed|failed to allocate|could not allocate|ff_frame_thread_encoder_init failed|std::bad_alloc/i;

/**
 * Whether a failed ffmpeg/ffprobe run ran out of the memory it was allowed: its stderr reports a
 * failed allocation. Only meaningful when a limit was set; a stop Kiln asked for (timeout, cancel,
 * output cap) is decided before this. A crash alone (SIGSEGV with no failed allocation reported) is
 * not taken as the limit: it is a fault of the machine or of ffmpeg (tool-exit.ts), retried, not a
 * verdict on the input.
 */
export function ranOutOfMemory(stderr: string): boolean {
  return OUT_OF_MEMORY.test(stderr);
}

/** The user-facing sentence: names the limit and its value. */
export function memoryLimitMessage(limitBytes: number, what: 'converting' | 'reading' = 'converting'): string {
  return `memory limit exceeded: ${what} this input needs more than the ${formatBytes(limitBytes)} ffmpeg may use (KILN_FFMPEG_MEMORY_LIMIT); it decodes to far more than its size suggests`;
}

/** 268435456 → "256 MiB", 1500 → "1.5 KiB", 100 → "100 bytes". */
export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${n} bytes`;
  const text =
    value >= 100 || Number.isInteger(value) ? String(Math.round(value)) : value.toFixed(1).replace(/\.0$/, '');
  return `${text} ${units[unit]}`;
}
