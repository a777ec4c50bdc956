// LibreOffice residents left behind by a converter that was killed are stopped by the next one at
// start: real processes whose command line names a gone converter's profile folder are killed and
// the folder removed; a live converter's residents and folders are left alone.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { officeProfileRoot, sweepOfficeResidents } from './office-residents';
import { processStart, selfMaker, type Maker } from './work-dirs';

/** A stand-in resident: `sleep` whose argv[0] names the profile, as soffice's -env:UserInstallation does. */
function resident(profile: string): ChildProcess {
  return spawn('bash', ['-c', `exec -a "soffice.bin -env:UserInstallation=file://${profile}/slot-0" sleep 300`], {
    stdio: 'ignore',
  });
}

const exited = (child: ChildProcess) =>
  new Promise<string | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.signalCode);
    else child.once('exit', (_code, signal) => resolve(signal));
  });

/** A converter that has come and gone: a real process that has exited, with its pid and start time. */
async function goneMaker(self: Maker): Promise<Maker> {
  const child = spawn('true');
  const pid = child.pid!;
  const start = processStart(pid) ?? 1;
  await exited(child);
  return { tag: self.tag, pid, start };
}

describe('sweepOfficeResidents', () => {
  const self = selfMaker();
  let root: string;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'kiln-residents-'));
  });

  afterEach(async () => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  });

  it("kills the residents of a gone converter and removes its profiles; a live converter's stay", async () => {
    const gone = officeProfileRoot(root, await goneMaker(self));
    const mine = officeProfileRoot(root, self);
    await mkdir(gone);
    await mkdir(mine);
    const orphan = resident(gone);
    const live = resident(mine);
    children.push(orphan, live);
    // Both run (their command lines are readable) before the sweep.
    await new Promise((r) => setImmediate(r));
    for (const c of [orphan, live]) expect(c.pid).toBeGreaterThan(0);

    const swept = await sweepOfficeResidents(root, self);

    expect(swept.killed).toContain(orphan.pid);
    expect(swept.killed).not.toContain(live.pid);
    expect(await exited(orphan)).toBe('SIGKILL');
    expect(live.exitCode).toBeNull();
    expect(live.signalCode).toBeNull();
    expect((await readdir(root)).sort()).toEqual([path.basename(mine)]);
  });

  it("leaves another host's profiles alone (another tag: its converter cannot be checked from here)", async () => {
    const other = officeProfileRoot(root, { tag: self.tag === 'ffffffff' ? '00000000' : 'ffffffff', pid: 1, start: 1 });
    await mkdir(other);
    const swept = await sweepOfficeResidents(root, self);
    expect(swept.removed).toEqual([]);
    expect(await readdir(root)).toEqual([path.basename(other)]);
  });
});
