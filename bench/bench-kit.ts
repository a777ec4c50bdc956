// Shared pieces of the benchmark scripts: a gateway process of our own, peak RSS from /proc,
// request pools, and statistics. Figures are ratios against a baseline measured in the same run.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { createServer } from 'node:net';
import path from 'node:path';
import { ensureDatabase, migrate } from '../libs/database/src/migrator';

export const ROOT = path.resolve(__dirname, '../..');
export const MiB = 1024 * 1024;

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

/** Peak and current resident set of a process (VmHWM / VmRSS), in bytes. */
export async function memoryOf(pid: number): Promise<{ peak: number; now: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { peak: kb('VmHWM'), now: kb('VmRSS') };
}

/** CPU seconds (user + system) a process has used so far. */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
}

export interface BenchEnv {
  env: Record<string, string>;
  apiKey: string;
  databaseUrl: string;
}

export async function benchEnv(extra: Record<string, string> = {}): Promise<BenchEnv> {
  const need = (n: string) => {
    const v = process.env[n];
    if (!v) throw new Error(`${n} is not set (run through npm run bench:upload)`);
    return v;
  };
  const databaseUrl = process.env.KILN_BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/kiln_bench';
  await ensureDatabase(databaseUrl);
  await migrate(databaseUrl);
  const apiKey = `kiln_bench_${randomBytes(12).toString('hex')}`;
  return {
    apiKey,
    databaseUrl,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'production',
      KILN_API_KEYS: apiKey,
      KILN_WEBHOOK_SECRET: `whsec_${randomBytes(16).toString('hex')}`,
      DATABASE_URL: databaseUrl,
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      KILN_QUEUE_PREFIX: `kiln-bench-${randomBytes(4).toString('hex')}`,
      S3_ENDPOINT: need('S3_ENDPOINT'),
      S3_ACCESS_KEY: need('S3_ACCESS_KEY'),
      S3_SECRET_KEY: need('S3_SECRET_KEY'),
      S3_BUCKET: process.env.KILN_BENCH_BUCKET ?? 'kiln-bench',
      KILN_LOG_LEVEL: 'warn',
      KILN_MAX_FILE_SIZE: '20GiB',
      // As the Dockerfile and `npm run up` run the apps; KILN_BENCH_NODE_OPTIONS overrides it.
      NODE_OPTIONS: process.env.KILN_BENCH_NODE_OPTIONS ?? '--max-semi-space-size=2',
      MALLOC_ARENA_MAX: process.env.KILN_BENCH_MALLOC_ARENA_MAX ?? '2',
      ...extra,
    },
  };
}

export async function startApp(app: 'api-gateway' | 'assembler' | 'converter', env: Record<string, string>): Promise<ChildProcess> {
  // KILN_BENCH_GATEWAY_ARGS: node flags for the gateway only (e.g. --cpu-prof) when profiling.
  const flags = app === 'api-gateway' && process.env.KILN_BENCH_GATEWAY_ARGS ? process.env.KILN_BENCH_GATEWAY_ARGS.split(' ') : [];
  const child = spawn(process.execPath, [...flags, path.join(ROOT, 'dist/apps', app, 'src/main.js')], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (app === 'api-gateway') {
    const url = `http://127.0.0.1:${env.KILN_PORT}/health/ready`;
    for (let i = 0; i < 300; i++) {
      try {
        if ((await fetch(url)).ok) return child;
      } catch {
        /* starting */
      }
      if (child.exitCode !== null) throw new Error(`${app} exited with ${child.exitCode}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${app} did not become ready`);
  }
  return child;
}

export async function stopApp(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

/** One HTTP request with a Buffer body over a keep-alive agent; resolves with status and body text. */
export function send(url: string, method: string, headers: Record<string, string>, body: Buffer | undefined, agent: http.Agent): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...headers, ...(body ? { 'Content-Length': String(body.length) } : {}) }, agent }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function pool<T>(items: T[], n: number, work: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) {
      const i = next++;
      await work(items[i], i);
    }
  }));
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function spread(xs: number[]): string {
  return `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;
}

/** `count` distinct chunks of `size` bytes made from one random buffer (the index is stamped in). */
export function chunkMaker(size: number): (index: number) => Buffer {
  const base = randomBytes(size);
  return (index) => {
    const b = Buffer.from(base);
    b.writeUInt32BE(index, 0);
    return b;
  };
}
