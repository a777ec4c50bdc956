/**
 * ffprobe → MediaInfo. ffprobe is spawned directly rather than through fluent-ffmpeg's `ffprobe()`:
 * that one returns no process handle (a timeout could not kill a stuck ffprobe) and parses the
 * legacy key=value output instead of JSON.
 */
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { sniffImage } from './image-sniff';
import { MediaError } from './media-error';
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
}

/** ffprobe's JSON for a normal file is a few KiB; a hostile one with thousands of streams is capped here. */
const MAX_PROBE_OUTPUT = 8 * 1024 * 1024;

export function probeArgs(path: string): string[] {
  return [
    '-v', 'error',
    '-hide_banner',
    '-protocol_whitelist', 'file,pipe',
    '-print_format', 'json',
    '-show_format',
    '-show_streams',
    '-i', path,
  ];
}

/**
 * Resolves the file's MediaInfo (kind `unknown` when it opens but holds nothing decodable).
 * Rejects with MediaError: `unprocessable` when ffprobe cannot read it (not media, truncated,
 * empty), `timeout`, `canceled`, or `internal` (file or ffprobe missing).
 */
export async function probe(path: string, options: ProbeOptions): Promise<MediaInfo> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new MediaError('internal', `probe: ${path} is not a file`);
    if (info.size === 0) throw new MediaError('unprocessable', 'the file is empty');
  } catch (err: unknown) {
    if (err instanceof MediaError) throw err;
    throw new MediaError('internal', `probe: cannot read ${path}: ${(err as Error).message}`, undefined, { cause: err });
  }
  if (options.signal?.aborted) throw new MediaError('canceled', 'probe canceled');
  if (options.sniffImages !== false) {
    const sniffed = await sniffImage(path).catch(() => null);
    if (sniffed) return sniffed;
  }

  const ffprobe = options.ffprobePath ?? 'ffprobe';
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      ffprobe,
      probeArgs(path),
      {
        timeout: options.timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: MAX_PROBE_OUTPUT,
        signal: options.signal,
        windowsHide: true,
      },
      (error, out, errOut) => {
        if (!error) return resolve(out);
        const tail = lastLines(String(errOut), path);
        const e = error as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null };
        if (e.name === 'AbortError') return reject(new MediaError('canceled', 'probe canceled', tail, { cause: error }));
        if (e.code === 'ENOENT') {
          return reject(new MediaError('internal', `ffprobe not found (${ffprobe})`, tail, { cause: error }));
        }
        if (e.killed && e.signal === 'SIGKILL') {
          return reject(
            new MediaError('timeout', `probing took longer than ${options.timeoutMs} ms`, tail, { cause: error }),
          );
        }
        if (e.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
          return reject(new MediaError('unprocessable', 'the file describes too many streams to read', tail, { cause: error }));
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
    throw new MediaError('unprocessable', 'ffprobe gave no readable description of the file', undefined, { cause: err });
  }
  return normaliseProbe(json);
}
