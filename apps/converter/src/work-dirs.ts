/**
 * The converter's scratch folders under KILN_TMP_DIR (or the OS temp dir): one per unit, holding its
 * input and output, removed when the unit ends. A converter killed mid-unit (SIGKILL, the OOM killer,
 * a crash loop) never removes its own, so each converter sweeps at start the folders of converters
 * that are gone. Several converters may share the folder (a volume shared by containers, or several
 * processes on one host), so a folder is removed only when its maker is known to be gone:
 * - its name says who made it: `kiln-convert-<tag>.<pid>.<start>-XXXXXX`, where `tag` names the
 *   host, its boot and its pid namespace (a pid means something only there), and `start` is the
 *   process's start time (so a pid reused by another process does not keep a dead one's folder);
 * - made under the same tag: removed when that pid is not alive (`process.kill(pid, 0)`), or is
 *   alive with another start time;
 * - made elsewhere (another container, or before a reboot): removed once it has not been touched
 *   for `staleAfterMs`; a live converter touches its folder on every heartbeat (a few seconds);
 * - named the old way (`kiln-convert-XXXXXX`, no maker): removed once older than `legacyAfterMs`.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const WORK_DIR_PREFIX = 'kiln-convert-';

/** Who made a folder: the host/boot/pid-namespace tag, the pid, and its start time (0: unknown). */
export interface Maker {
  tag: string;
  pid: number;
  start: number;
}

const NAME = /^kiln-convert-([0-9a-f]{8})\.(\d+)\.(\d+)-[A-Za-z0-9]{6}$/;
const LEGACY = /^kiln-convert-[A-Za-z0-9]{6}$/;

function readOr(read: () => string, fallback: string): string {
  try {
    return read();
  } catch {
    return fallback;
  }
}

/** This host, its current boot and this pid namespace, in 8 hex digits. */
export function localTag(): string {
  const bootId = readOr(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), '');
  const pidNamespace = readOr(() => readlinkSync('/proc/self/ns/pid'), '');
  return createHash('sha256').update(`${os.hostname()}\0${bootId}\0${pidNamespace}`).digest('hex').slice(0, 8);
}

/** The start time of a live process (clock ticks after boot, /proc/<pid>/stat field 22); null when there is none. */
export function processStart(pid: number): number | null {
  const stat = readOr(() => readFileSync(`/proc/${pid}/stat`, 'utf8'), '');
  if (!stat) return null;
  // Fields after the command name, which is in parentheses and may itself hold spaces or ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[19]);
  return Number.isFinite(start) ? start : null;
}

/** This process, as folder names record it. */
export function selfMaker(): Maker {
  return { tag: localTag(), pid: process.pid, start: processStart(process.pid) ?? 0 };
}

export function workDirPrefix(maker: Maker): string {
  return `${WORK_DIR_PREFIX}${maker.tag}.${maker.pid}.${maker.start}-`;
}

export function makerOf(name: string): Maker | null {
  const m = NAME.exec(name);
  return m ? { tag: m[1], pid: Number(m[2]), start: Number(m[3]) } : null;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/** Whether the process that made a folder under this tag is still running. */
export function makerAlive(maker: Maker): boolean {
  if (maker.pid <= 0 || !pidAlive(maker.pid)) return false;
  if (!maker.start) return true; // start unknown when it was made: the pid alone decides
  const start = processStart(maker.pid);
  // Unreadable (e.g. /proc mounted with hidepid): kept; a leftover folder is the lesser harm.
  return start === null || start === maker.start;
}

export interface SweepOptions {
  /** This process (its folders are never removed). */
  self: Maker;
  /** A folder made under another tag is removed once untouched for this long. */
  staleAfterMs: number;
  /** An old-style folder (no maker in its name) is removed once untouched for this long. */
  legacyAfterMs: number;
  now?: number;
}

/** Removes the folders of converters that are gone; resolves with the names removed. */
export async function sweepWorkDirs(root: string, options: SweepOptions): Promise<string[]> {
  const now = options.now ?? Date.now();
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  const removed: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || !entry.name.startsWith(WORK_DIR_PREFIX)) continue;
    const dir = path.join(root, entry.name);
    const maker = makerOf(entry.name);
    let gone: boolean;
    if (maker && maker.tag === options.self.tag) gone = !makerAlive(maker);
    else if (maker || LEGACY.test(entry.name)) {
      const touched = await stat(dir).then(
        (s) => s.mtimeMs,
        () => now,
      );
      gone = now - touched > (maker ? options.staleAfterMs : options.legacyAfterMs);
    } else gone = false; // not one of ours
    if (!gone) continue;
    await rm(dir, { recursive: true, force: true });
    removed.push(entry.name);
  }
  return removed;
}

/** A new folder for one unit, named after this process. */
export function makeWorkDir(root: string, maker: Maker): Promise<string> {
  return mkdtemp(path.join(root, workDirPrefix(maker)));
}

/** Marks the folder as in use (its mtime): other hosts' sweeps leave it alone. */
export function touchWorkDir(dir: string): Promise<void> {
  const now = new Date();
  return utimes(dir, now, now).catch(() => undefined);
}
