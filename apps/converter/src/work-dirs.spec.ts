// The sweep of converter scratch folders, on a real directory with real processes: a folder whose
// maker is dead goes (with what it holds), a live maker's stays, a pid reused by another process
// does not keep a dead converter's folder, and folders made elsewhere go only once untouched.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  type Maker,
  makeWorkDir,
  makerOf,
  processStart,
  selfMaker,
  sweepWorkDirs,
  touchWorkDir,
  workDirPrefix,
} from './work-dirs';

const MINUTE = 60_000;
const options = (self: Maker) => ({ self, staleAfterMs: MINUTE, legacyAfterMs: 60 * MINUTE });

/** A process that has exited: its pid names nobody (until the kernel reuses it, far later). */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

describe('converter scratch folders', () => {
  let root: string;
  let sleeper: ChildProcess;
  const self = selfMaker();

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'kiln-work-dirs-'));
    sleeper = spawn('sleep', ['300']);
    await new Promise((r) => sleeper.once('spawn', r));
  });

  afterEach(async () => {
    sleeper.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  });

  /** A folder as the converter `maker` would have made it, with an input file inside. */
  async function folderOf(maker: Maker): Promise<string> {
    const dir = await makeWorkDir(root, maker);
    await writeFile(path.join(dir, 'input'), Buffer.alloc(64 * 1024));
    return path.basename(dir);
  }

  const left = async () => (await readdir(root)).sort();

  it('names a folder after its maker: tag, pid and start time', async () => {
    const name = await folderOf(self);
    expect(name.startsWith(workDirPrefix(self))).toBe(true);
    expect(makerOf(name)).toEqual(self);
    expect(self.start).toBe(processStart(process.pid));
    expect(self.start).toBeGreaterThan(0);
  });

  it("removes a dead converter's folder and keeps a live one's and its own", async () => {
    const dead = await folderOf({ ...self, pid: await deadPid(), start: 12345 });
    const live = await folderOf({ ...self, pid: sleeper.pid!, start: processStart(sleeper.pid!)! });
    const own = await folderOf(self);
    const removed = await sweepWorkDirs(root, options(self));
    expect(removed).toEqual([dead]);
    expect(await left()).toEqual([live, own].sort());
  });

  it('a pid now held by another process does not keep the folder of the converter that had it', async () => {
    // Same pid as the live sleeper, another start time: the converter that made it is gone.
    const reused = await folderOf({ ...self, pid: sleeper.pid!, start: processStart(sleeper.pid!)! + 1 });
    expect(await sweepWorkDirs(root, options(self))).toEqual([reused]);
    expect(await left()).toEqual([]);
  });

  it('folders made under another tag (another container or boot) go only once untouched', async () => {
    const elsewhere = { tag: 'ffffffff', pid: process.pid, start: 1 };
    const fresh = await folderOf(elsewhere);
    const abandoned = await folderOf({ ...elsewhere, pid: 4242 });
    const old = new Date(Date.now() - 2 * MINUTE);
    await utimes(path.join(root, abandoned), old, old);
    // A live converter elsewhere touches its folder on every heartbeat.
    await utimes(path.join(root, fresh), old, old);
    await touchWorkDir(path.join(root, fresh));
    expect((await stat(path.join(root, fresh))).mtimeMs).toBeGreaterThan(Date.now() - MINUTE);
    expect(await sweepWorkDirs(root, options(self))).toEqual([abandoned]);
    expect(await left()).toEqual([fresh]);
  });

  it('old-style folders (no maker in the name) go once older than the legacy age; others are not touched', async () => {
    for (const name of ['kiln-convert-aB3xYz', 'kiln-convert-Qw12er', 'kiln-assemble-aB3xYz', 'unrelated'])
      await mkdir(path.join(root, name));
    await writeFile(path.join(root, 'kiln-convert-notadir'), 'x');
    const ancient = new Date(Date.now() - 61 * MINUTE);
    for (const name of ['kiln-convert-aB3xYz', 'kiln-assemble-aB3xYz', 'unrelated'])
      await utimes(path.join(root, name), ancient, ancient);
    expect(await sweepWorkDirs(root, options(self))).toEqual(['kiln-convert-aB3xYz']);
    expect(await left()).toEqual(['kiln-assemble-aB3xYz', 'kiln-convert-Qw12er', 'kiln-convert-notadir', 'unrelated']);
  });

  it('a missing root is nothing to sweep', async () => {
    expect(await sweepWorkDirs(path.join(root, 'nope'), options(self))).toEqual([]);
  });
});
