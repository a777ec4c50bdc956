import { execFileSync } from 'node:child_process';

/** ffmpeg processes started by a (converter) process. */
export function ffmpegChildren(pid: number): number[] {
  try {
    const out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(pid)], { encoding: 'utf8' });
    return out
      .split('\n')
      .filter((l) => /ffmpeg/.test(l))
      .map((l) => Number(l.trim().split(/\s+/)[0]));
  } catch {
    return []; // ps exits 1 when there is no child
  }
}
