/**
 * The office engine keeps a LibreOffice resident per slot, each in its own process group (so a
 * cancel can stop the whole tree). Killed outright (SIGKILL, OOM), a converter cannot stop them,
 * and they would live on. So their profiles sit in a folder named after the converter that made
 * them, as its scratch folders are (work-dirs.ts): `kiln-office-<tag>.<pid>.<start>`; at start, a
 * converter kills every process of this host running on the profile of a converter that is gone,
 * and removes those folders.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { makerAlive, type Maker } from './work-dirs';

const PREFIX = 'kiln-office-';
const NAME = /kiln-office-([0-9a-f]{8})\.(\d+)\.(\d+)/;

/** Where this converter's LibreOffice profiles live. */
export function officeProfileRoot(tmpRoot: string, maker: Maker): string {
  return path.join(tmpRoot, `${PREFIX}${maker.tag}.${maker.pid}.${maker.start}`);
}

function makerIn(text: string): Maker | null {
  const m = NAME.exec(text);
  return m ? { tag: m[1], pid: Number(m[2]), start: Number(m[3]) } : null;
}

const gone = (maker: Maker, self: Maker) =>
  maker.tag === self.tag && !(maker.pid === self.pid && maker.start === self.start) && !makerAlive(maker);

/** Kills the residents of converters that are gone and removes their profiles; returns the pids killed. */
export async function sweepOfficeResidents(
  tmpRoot: string,
  self: Maker,
): Promise<{ killed: number[]; removed: string[] }> {
  const killed: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const maker = makerIn(cmdline);
    if (!maker || !gone(maker, self)) continue;
    try {
      process.kill(Number(entry), 'SIGKILL');
      killed.push(Number(entry));
    } catch {
      // already gone
    }
  }
  const removed: string[] = [];
  for (const name of await readdir(tmpRoot).catch(() => [] as string[])) {
    const maker = name.startsWith(PREFIX) ? makerIn(name) : null;
    if (!maker || !gone(maker, self)) continue;
    await rm(path.join(tmpRoot, name), { recursive: true, force: true });
    removed.push(name);
  }
  return { killed, removed };
}
