// Where the suite runs and how it keeps time: the repository root and scratch folder, sleeping and
// the performance clock, progress lines, numbers from the environment, free ports.
import { createServer } from 'node:net';
import path from 'node:path';

/** The repository root (this file runs from dist/bench/). */
export const ROOT = path.resolve(__dirname, '../..');
export const MiB = 1024 * 1024;
/** Scratch space of the suite (git-ignored): payload files, generated media, process logs. */
export const TMP_DIR = path.join(ROOT, 'bench/results/tmp');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const started = Date.now();
/** One progress line on stderr, with the time since the suite started. */
export function progress(message: string): void {
  const s = Math.round((Date.now() - started) / 1000);
  process.stderr.write(
    `[bench ${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${message}\n`,
  );
}

export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number (got ${JSON.stringify(raw)})`);
  return n;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
