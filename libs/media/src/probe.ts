/**
 * ffprobe → MediaInfo. ffprobe is spawned directly rather than through fluent-ffmpeg's `ffprobe()`:
 * that one returns no process handle (a timeout could not kill a stuck ffprobe) and parses the
 * legacy key=value output instead of JSON.
 */
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { sniffImage } from './image-sniff';
import { INPUT_RESTRICTIONS, refusedFormat, refusedFormatMessage } from './input-formats';
import { MediaError } from './media-error';
import { pixelLimitRefusal } from './media-limits';
import { limitedCommand, memoryLimitMessage, ranOutOfMemory } from './memory-limit';
import { toolFault } from './tool-exit';
import { lastLines } from './stderr-tail';
import { normaliseProbe, type FfprobeJson, type MediaInfo } from './media-info';

export interface ProbeOptions {
  /** ffprobe is killed (SIGKILL) past this; the promise rejects with MediaError('timeout'). */
  timeoutMs: number;
  /** Default `ffprobe` (looked up on PATH). */
  ffprobePath?: string;
  signal?: AbortSignal;
  /**
   * Plain PNG and JPEG files are described from their headers without spawning ffprobe (the same
   * MediaInfo; see image-sniff.ts). Default true; false always runs ffprobe.
   */
  sniffImages?: boolean;
  /**
   * Pixels of one frame (KILN_MAX_PIXELS). A bigger picture is refused (MediaError `unprocessable`,
   * `limit: 'pixels'`) whether its size comes from the header reader or from ffprobe, whose decoder
   * is told the same (`-max_pixels`) so it never allocates such a frame while probing.
   */
  maxPixels?: number;
  /** ffprobe runs under this memory limit (memory-limit.ts); undefined or 0: none. */
  memoryLimitBytes?: number;
}

/** ffprobe's JSON for a normal file is a few KiB; a hostile one with thousands of streams is capped here. */
const MAX_PROBE_OUTPUT = 8 * 1024 * 1024;

/**
 * ffprobe's arguments: the file protocol and Kiln's demuxers only (input-formats.ts), so a playlist
 * or ffconcat list is refused before anything it names is opened.
 */
export function probeArgs(path: string, maxPixels?: number): string[] {
  return [
    '-v',
    'error',
    '-hide_banner',
    ...INPUT_RESTRICTIONS,
    ...(maxPixels ? ['-max_pixels', String(maxPixels)] : []),
    '-print_format',
    'json',
    '-show_format',
    '-show_streams',
    '-i',
    path,
  ];
}

/**
 * Resolves the file's MediaInfo (kind `unknown` when it opens but holds nothing decodable).
 * Rejects with MediaError: `unprocessable` when ffprobe cannot read it (not media, truncated,
 * empty), `timeout`, `canceled`, `infrastructure` (ffprobe killed by a signal Kiln did not send, or
 * an I/O error reading the file: tool-exit.ts), or `internal` (file or ffprobe missing).
 */
export async function probe(path: string, options: ProbeOptions): Promise<MediaInfo> {
  await checkFile(path, options);
  if (options.sniffImages !== false) {
    const sniffed = await sniffImage(path).catch(() => null);
    if (sniffed) {
      const { width, height } = sniffed;
      if (options.maxPixels && width !== null && height !== null && width * height > options.maxPixels) {
        throw limitError(pixelLimitRefusal(width, height, options.maxPixels));
      }
      return sniffed;
    }
  }
  return (await runFfprobe(path, options)).info;
}

/**
 * One ffprobe run (never the header reader) answering both the MediaInfo and ffprobe's own JSON
 * (format tags, every stream), for a report of the whole probe (the metadata target). Rejects as
 * `probe` does.
 */
export async function probeWithRaw(
  path: string,
  options: ProbeOptions,
): Promise<{ info: MediaInfo; raw: FfprobeJson }> {
  await checkFile(path, options);
  return runFfprobe(path, options);
}

/** The file exists, is a regular file and is not empty, and the probe is not canceled yet. */
async function checkFile(path: string, options: ProbeOptions): Promise<void> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new MediaError('internal', `probe: ${path} is not a file`);
    if (info.size === 0) throw new MediaError('unprocessable', 'the file is empty');
  } catch (err: unknown) {
    if (err instanceof MediaError) throw err;
    throw new MediaError('internal', `probe: cannot read ${path}: ${(err as Error).message}`, undefined, {
      cause: err,
    });
  }
  if (options.signal?.aborted) throw new MediaError('canceled', 'probe canceled');
}

async function runFfprobe(path: string, options: ProbeOptions): Promise<{ info: MediaInfo; raw: FfprobeJson }> {
  const ffprobe = options.ffprobePath ?? 'ffprobe';
  const [command, args] = limitedCommand(ffprobe, probeArgs(path, options.maxPixels), options.memoryLimitBytes);
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    execFile(
      command,
      args,
      {
        timeout: options.timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: MAX_PROBE_OUTPUT,
        signal: options.signal,
        windowsHide: true,
      },
      (error, out, errOut) => {
        if (!error) return resolve({ stdout: out, stderr: String(errOut) });
        const tail = lastLines(String(errOut), path);
        const e = error as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null };
        if (e.name === 'AbortError')
          return reject(new MediaError('canceled', 'probe canceled', tail, { cause: error }));
        if (e.code === 'ENOENT') {
          return reject(
            new MediaError('internal', `${command} not found (probing with ${ffprobe})`, tail, { cause: error }),
          );
        }
        if (/^prlimit: /m.test(String(errOut))) {
          return reject(
            new MediaError('internal', `ffprobe could not start under its memory limit: ${tail}`, tail, {
              cause: error,
            }),
          );
        }
        const format = refusedFormat(String(errOut));
        if (format)
          return reject(new MediaError('unprocessable', refusedFormatMessage(format), tail, { cause: error }));
        if (e.killed && e.signal === 'SIGKILL') {
          return reject(
            new MediaError('timeout', `probing took longer than ${options.timeoutMs} ms`, tail, { cause: error }),
          );
        }
        if (options.memoryLimitBytes && ranOutOfMemory(String(errOut))) {
          return reject(
            new MediaError('unprocessable', memoryLimitMessage(options.memoryLimitBytes, 'reading'), tail, {
              cause: error,
              limit: 'memory',
            }),
          );
        }
        // Killed by a signal Kiln did not send, a full disk or an I/O error: the machine failed, not the input.
        const exitCode = typeof e.code === 'number' ? (e.code as number) : null;
        const fault = toolFault('ffprobe', {
          signal: e.killed ? null : (e.signal ?? null),
          exitCode,
          stderr: String(errOut),
        });
        if (fault)
          return reject(new MediaError('infrastructure', fault.message, tail, { cause: error, fault: fault.fault }));
        if (e.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
          return reject(
            new MediaError('unprocessable', 'the file describes too many streams to read', tail, { cause: error }),
          );
        }
        const reason = tail.split('\n').filter(Boolean).pop();
        reject(
          new MediaError(
            'unprocessable',
            `the file is not audio, video or an image that can be read${reason ? ` (${reason})` : ''}`,
            tail,
            { cause: error },
          ),
        );
      },
    );
  });

  let json: FfprobeJson;
  try {
    json = JSON.parse(stdout) as FfprobeJson;
  } catch (err: unknown) {
    throw new MediaError('unprocessable', 'ffprobe gave no readable description of the file', undefined, {
      cause: err,
    });
  }
  // The decoder refused a frame over -max_pixels; ffprobe still succeeds, reporting a 0×0 picture.
  const tooLarge = /Picture size (\d+)x(\d+) exceeds specified max pixel count/.exec(stderr);
  if (tooLarge && options.maxPixels) {
    throw limitError(pixelLimitRefusal(Number(tooLarge[1]), Number(tooLarge[2]), options.maxPixels));
  }
  return { info: normaliseProbe(json), raw: json };
}

function limitError(refusal: { limit: MediaError['limit']; message: string }): MediaError {
  return new MediaError('unprocessable', refusal.message, undefined, { limit: refusal.limit });
}
