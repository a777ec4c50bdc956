/**
 * One resident LibreOffice per slot ("warm"), driven through LibreOffice's own single-instance
 * pipe: a second `soffice --convert-to … -env:UserInstallation=<the same profile>` does not start
 * an office of its own but hands its command line to the running one and waits until that one has
 * converted (measured on a 10-page docx → pdf: ~40 ms warm against ~920 ms for a cold start).
 *
 * The resident keeps a small document open: with no document left, LibreOffice terminates after
 * the first conversion handed to it. It is ready once the pipe of its `--accept` exists. A resident
 * that died (crash, OOM killer) or was killed (timeout, cancel, hang) is started again on the next
 * conversion.
 */
import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { MediaError } from '../../media-error';
import { limitedCommand } from '../../memory-limit';
import { type TreeProcess, spawnTree } from './process-tree';
import { resetProfile, SOFFICE_FLAGS, userInstallation } from './office-profile';

/** How long a resident may take to start. */
const START_TIMEOUT_MS = 60_000;
const POLL_MS = 25;

/** Where LibreOffice (osl) puts its named pipes: `/tmp/OSL_PIPE_<uid>_<name>`. */
const PIPE_DIR = '/tmp';

export class SofficeInstance {
  readonly profileDir: string;
  private readonly keepAlive: string;
  private readonly pipeName: string;
  private resident: TreeProcess | null = null;

  constructor(
    readonly slotDir: string,
    private readonly templateDir: string,
    private readonly sofficePath: string,
    private readonly memoryLimitBytes: number | undefined,
  ) {
    this.profileDir = join(slotDir, 'profile');
    this.keepAlive = join(slotDir, 'keepalive.txt');
    this.pipeName = `kiln_office_${createHash('sha256').update(slotDir).digest('hex').slice(0, 16)}`;
  }

  /** The resident, started if none is running. */
  async ensure(): Promise<TreeProcess> {
    if (this.resident && !this.resident.hasExited()) return this.resident;
    if (this.resident) await this.stop();
    try {
      return await this.start();
    } catch (err: unknown) {
      // Once more (on a fresh profile again).
      await this.stop();
      if (err instanceof MediaError && err.code === 'internal') throw err;
      return this.start();
    }
  }

  private async start(): Promise<TreeProcess> {
    await mkdir(this.slotDir, { recursive: true });
    // Every start is on a fresh copy of the template: a killed or crashed office can leave a
    // `.lock`, a half-written registry or recovery data in its profile.
    await resetProfile(this.templateDir, this.profileDir);
    // A killed resident leaves its pipe file and the keep-alive document's lock behind.
    const pipe = join(PIPE_DIR, `OSL_PIPE_${process.getuid?.() ?? 0}_${this.pipeName}`);
    await rm(pipe, { force: true });
    await rm(join(this.slotDir, '.~lock.keepalive.txt#'), { force: true });
    await writeFile(this.keepAlive, 'Kiln\n');
    const [cmd, args] = limitedCommand(
      this.sofficePath,
      [
        userInstallation(this.profileDir),
        ...SOFFICE_FLAGS.filter((f) => f !== '--nodefault'),
        `--accept=pipe,name=${this.pipeName};urp;`,
        this.keepAlive,
      ],
      this.memoryLimitBytes,
    );
    const proc = spawnTree(cmd, args);
    this.resident = proc;
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (proc.hasExited()) {
        const exit = await proc.exited;
        const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
        if (exit.code === null && exit.signal === null)
          throw new MediaError('internal', `LibreOffice could not start (${this.sofficePath}): ${proc.output()}`);
        throw new MediaError('infrastructure', `LibreOffice stopped while starting (${how})`, proc.output(), {
          fault: 'signal',
        });
      }
      if (
        await access(pipe).then(
          () => true,
          () => false,
        )
      )
        return proc;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    await this.stop();
    throw new MediaError('infrastructure', `LibreOffice did not start within ${START_TIMEOUT_MS} ms`, undefined, {
      fault: 'signal',
    });
  }

  /** The arguments of a client run that hands one conversion to the resident. */
  clientArgs(input: string, outDir: string, exportSpec: string, importFilter: string | undefined): string[] {
    return [
      userInstallation(this.profileDir),
      ...SOFFICE_FLAGS,
      ...(importFilter ? [`--infilter=${importFilter}`] : []),
      '--convert-to',
      exportSpec,
      '--outdir',
      outDir,
      input,
    ];
  }

  /** How the resident ended, if it has exited since it was started (a crash, the OOM killer). */
  async death(): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> {
    if (!this.resident?.hasExited()) return null;
    return this.resident.exited;
  }

  residentOutput(): string {
    return this.resident?.output() ?? '';
  }

  /** Kills the resident and its whole process tree; the next `ensure` starts one on a fresh profile. */
  async stop(): Promise<void> {
    const proc = this.resident;
    this.resident = null;
    if (proc) await proc.kill();
  }
}
