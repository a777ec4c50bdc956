// What an interrupted `kiln convert` needs to continue: its job and upload sessions, kept in a small
// JSON file keyed by server + files (absolute path, size, mtime) + target + options.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface FileIdentity {
  path: string;
  size: number;
  mtimeMs: number;
}

export interface ResumeFile {
  path: string;
  input_id: string;
  /** Set once the upload session exists. */
  upload_id?: string;
  /** The session's mode: direct (bytes straight to S3) or proxied (chunks through the gateway; also when absent). */
  mode?: 'direct' | 'proxied';
}

export interface ResumeEntry {
  server: string;
  job_id: string;
  job_token?: string;
  target: string;
  files: ResumeFile[];
  created_at: string;
}

interface StateFile {
  version: 1;
  entries: Record<string, ResumeEntry>;
}

/** $KILN_STATE_DIR, else $XDG_STATE_HOME/kiln, else ~/.local/state/kiln. */
export function stateDir(env: Record<string, string | undefined>, home: string): string {
  if (env.KILN_STATE_DIR?.trim()) return path.resolve(env.KILN_STATE_DIR);
  const base = env.XDG_STATE_HOME?.trim() ? env.XDG_STATE_HOME : path.join(home, '.local', 'state');
  return path.join(base, 'kiln');
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** The same server, files (in order), target and options give the same key. */
export function resumeKey(
  server: string,
  files: FileIdentity[],
  target: string,
  options: Record<string, string | number>,
): string {
  const identity = canonical({
    server: server.replace(/\/+$/, ''),
    files: files.map((f) => [f.path, f.size, Math.floor(f.mtimeMs)]),
    target: target.toLowerCase(),
    options,
  });
  return createHash('sha256').update(JSON.stringify(identity)).digest('hex');
}

/**
 * The state file `uploads.json` (mode 0600: it holds job tokens). Every change re-reads the file and
 * replaces it atomically (write + rename), so a crash never leaves it half written.
 */
export class ResumeStore {
  readonly file: string;

  constructor(readonly dir: string) {
    this.file = path.join(dir, 'uploads.json');
  }

  private async read(): Promise<StateFile> {
    try {
      const data = JSON.parse(await readFile(this.file, 'utf8')) as StateFile;
      if (data && data.version === 1 && data.entries && typeof data.entries === 'object') return data;
    } catch {
      /* missing or unreadable: start empty */
    }
    return { version: 1, entries: {} };
  }

  private async write(state: StateFile): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    try {
      await rename(tmp, this.file);
    } catch (err: unknown) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async get(key: string): Promise<ResumeEntry | undefined> {
    return (await this.read()).entries[key];
  }

  async put(key: string, entry: ResumeEntry): Promise<void> {
    const state = await this.read();
    state.entries[key] = entry;
    await this.write(state);
  }

  async remove(key: string): Promise<void> {
    const state = await this.read();
    if (!(key in state.entries)) return;
    delete state.entries[key];
    await this.write(state);
  }

  async all(): Promise<Record<string, ResumeEntry>> {
    return (await this.read()).entries;
  }
}
