/**
 * A stand-in for ffmpeg or ffprobe that crashes on a poison input and is the real tool otherwise:
 * a shell script that kills itself with SIGSEGV when one of its arguments is a file containing the
 * marker, and execs the real tool (same pid) for everything else (`-version`, `-formats`, other
 * inputs). Its name starts with the tool's, so process listings by name still find it.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** Bytes that make an input poison: put them in its metadata (`-metadata title=KILN-POISON`). */
export const POISON_MARKER = 'KILN-POISON';

/** Writes `<dir>/<tool>-crashing` and resolves with its path. */
export async function makeCrashingTool(dir: string, tool: 'ffmpeg' | 'ffprobe' = 'ffmpeg'): Promise<string> {
  const real = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
  if (!real) throw new Error(`${tool} is not on PATH`);
  const path = join(dir, `${tool}-crashing`);
  await writeFile(
    path,
    [
      '#!/bin/sh',
      '# Crashes (SIGSEGV, no core file) on an input holding the marker; the real tool otherwise.',
      'ulimit -c 0',
      'for a in "$@"; do',
      `  if [ -f "$a" ] && grep -q '${POISON_MARKER}' "$a" 2>/dev/null; then kill -SEGV $$; fi`,
      'done',
      `exec '${real}' "$@"`,
      '',
    ].join('\n'),
  );
  await chmod(path, 0o755);
  return path;
}

/** A one-second WAV whose metadata (title) holds the marker: valid media that the crashing tool dies on. */
export async function makePoisonAudio(path: string): Promise<string> {
  await promisify(execFile)('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:duration=1',
    '-metadata',
    `title=${POISON_MARKER}`,
    '-y',
    path,
  ]);
  return path;
}
