/**
 * Child processes of the office engine, each the leader of its own process group: LibreOffice
 * starts helpers (soffice.bin under the `soffice` script, javaldx…), so a stop signals the whole
 * group, not only the pid Node knows. A stop is SIGTERM, then SIGKILL after a grace period (a
 * stopped or hung soffice ignores SIGTERM), as runner.ts stops ffmpeg.
 */
import { type ChildProcess, spawn } from 'node:child_process';

/** Between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 1000;
/** Bytes of stdout/stderr kept per process (for error tails); older text is dropped. */
const KEEP_BYTES = 64 * 1024;

export interface TreeProcess {
  child: ChildProcess;
  /** Resolves once the process has exited, with how. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  /** The last output lines (stdout and stderr together). */
  output(): string;
  /** SIGTERM to the group, SIGKILL after the grace period; resolves once the leader has exited. */
  kill(graceMs?: number): Promise<void>;
}

/** Starts `command` as the leader of a new process group. */
export function spawnTree(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): TreeProcess {
  const child = spawn(command, [...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  let text = '';
  const keep = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    if (text.length > KEEP_BYTES) text = text.slice(-KEEP_BYTES);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (err) => {
      keep(Buffer.from(`${err.message}\n`));
      done = true;
      resolve({ code: null, signal: null });
    });
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
  });
  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group is gone already
    }
  };
  return {
    child,
    exited,
    hasExited: () => done,
    output: () => text,
    async kill(graceMs = KILL_GRACE_MS) {
      if (child.pid === undefined) return;
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      // Helpers left in the group after the leader died (soffice.bin under the script) go too.
      signalGroup('SIGKILL');
    },
  };
}

/** The last `count` non-empty lines of `text`. */
export function lastLinesOf(text: string, count = 8): string {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l && !/failed to launch javaldx/.test(l))
    .slice(-count)
    .join('\n');
}
