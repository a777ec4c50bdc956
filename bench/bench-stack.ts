// The Kiln apps as OS processes (own database, Redis prefix, bucket, a log file each), the suite's
// helper scripts as child processes, and reading their logs.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, createWriteStream, openSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort, ROOT, sleep } from './run-environment';

export type AppName = 'api-gateway' | 'assembler' | 'converter';

/** What the whole suite shares: S3 settings, one database, the log folder. */
export interface SuiteContext {
  runs: number;
  databaseUrl: string;
  s3: { endpoint: string; accessKey: string; secretKey: string; region: string };
  bucket: string;
  logDir: string;
}

export interface BenchApp {
  name: string;
  app: AppName;
  child: ChildProcess;
  pid: number;
  logFile: string;
  /** The gateway's API port, or a worker's KILN_WORKER_HTTP_PORT (health, metrics). */
  port: number;
  exited: Promise<number | null>;
}

/**
 * The apps as `npm run up` runs them (node dist/apps/<app>/src/main.js with NODE_OPTIONS
 * --max-semi-space-size=2 and MALLOC_ARENA_MAX=2), against the suite's database and bucket and a
 * Redis key prefix of this stack's own. Output goes to a log file per process.
 */
export class BenchStack {
  readonly apps: BenchApp[] = [];
  readonly apiKey = `kiln_bench_${randomBytes(12).toString('hex')}`;
  readonly webhookSecret = `whsec_${randomBytes(16).toString('hex')}`;
  readonly prefix = `kiln-bench-${randomBytes(4).toString('hex')}`;
  readonly env: Record<string, string>;
  gatewayUrl = '';

  constructor(
    private readonly suite: SuiteContext,
    readonly name: string,
    extraEnv: Record<string, string> = {},
  ) {
    this.env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'production',
      KILN_API_KEYS: this.apiKey,
      KILN_WEBHOOK_SECRET: this.webhookSecret,
      DATABASE_URL: suite.databaseUrl,
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      KILN_QUEUE_PREFIX: this.prefix,
      S3_ENDPOINT: suite.s3.endpoint,
      S3_ACCESS_KEY: suite.s3.accessKey,
      S3_SECRET_KEY: suite.s3.secretKey,
      S3_REGION: suite.s3.region,
      S3_BUCKET: suite.bucket,
      KILN_HOST: '127.0.0.1',
      KILN_LOG_LEVEL: 'info',
      KILN_MAX_FILE_SIZE: '20GiB',
      // Callbacks go to the suite's receiver on 127.0.0.1 (as in `npm run up`).
      KILN_ALLOW_PRIVATE_URLS: 'true',
      // The per-key limits stay switched on (their Redis round trips are part of every request) but
      // high enough that the suite's bursts (50 chunks at once, hundreds of jobs a minute) never trip them.
      KILN_RATE_LIMIT_PER_MINUTE: '1000000',
      KILN_MAX_CONCURRENT_UPLOADS_PER_KEY: '256',
      // As the Dockerfile and `npm run up` run the apps; BENCH_NODE_OPTIONS overrides it.
      NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS ?? '--max-semi-space-size=2 --expose-gc',
      MALLOC_ARENA_MAX: process.env.BENCH_MALLOC_ARENA_MAX ?? '2',
      ...extraEnv,
    };
  }

  /** Starts one app and waits until its /health/ready answers 200. */
  async startApp(app: AppName, name: string, extraEnv: Record<string, string> = {}): Promise<BenchApp> {
    const port = await freePort();
    const portEnv: Record<string, string> =
      app === 'api-gateway' ? { KILN_PORT: String(port) } : { KILN_WORKER_HTTP_PORT: String(port) };
    const env: Record<string, string> = { ...this.env, ...portEnv, ...extraEnv };
    // BENCH_PROFILE=api-gateway,converter (an app, a process name, or <case>:<app>): a V8 CPU profile of
    // that process, written when it exits (node flags: Node 20 refuses --cpu-prof in NODE_OPTIONS).
    const profile = (process.env.BENCH_PROFILE ?? '').split(',').map((s) => s.trim());
    const flags: string[] = [];
    if (profile.includes(app) || profile.includes(name) || profile.includes(`${this.name}:${app}`)) {
      const dir = path.join(this.suite.logDir, 'profiles');
      await mkdir(dir, { recursive: true });
      flags.push('--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${this.name}-${name}.cpuprofile`);
    }
    await mkdir(this.suite.logDir, { recursive: true });
    const logFile = path.join(this.suite.logDir, `${this.name}-${name}.log`);
    const fd = openSync(logFile, 'a');
    const child = spawn(process.execPath, [...flags, path.join(ROOT, 'dist/apps', app, 'src/main.js')], {
      env,
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const running: BenchApp = { name, app, child, pid: child.pid!, logFile, port, exited };
    this.apps.push(running);
    if (app === 'api-gateway') this.gatewayUrl = `http://127.0.0.1:${port}`;
    await this.waitReady(running);
    return running;
  }

  private async waitReady(app: BenchApp, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const r = await fetch(`http://127.0.0.1:${app.port}/health/ready`);
        if (r.ok) return;
      } catch {
        /* starting */
      }
      if (app.child.exitCode !== null)
        throw new Error(
          `${app.name} exited with ${app.child.exitCode}; log: ${app.logFile}\n${await tail(app.logFile)}`,
        );
      await sleep(100);
    }
    throw new Error(`${app.name} not ready in ${timeoutMs} ms; log: ${app.logFile}\n${await tail(app.logFile)}`);
  }

  app(name: string): BenchApp {
    const a = this.apps.find((x) => x.name === name);
    if (!a) throw new Error(`no app ${name} in stack ${this.name}`);
    return a;
  }

  async stopApp(app: BenchApp): Promise<void> {
    if (app.child.exitCode === null && app.child.signalCode === null) app.child.kill('SIGTERM');
    const timer = setTimeout(() => app.child.kill('SIGKILL'), 20_000);
    await app.exited;
    clearTimeout(timer);
    this.apps.splice(this.apps.indexOf(app), 1);
  }

  /** Request headers with the stack's API key. */
  get auth(): Record<string, string> {
    return { 'X-Api-Key': this.apiKey };
  }

  /** Stops every app and removes the stack's Redis keys. */
  async stop(): Promise<void> {
    await Promise.all([...this.apps].map((a) => this.stopApp(a)));
    await removeRedisPrefix(this.prefix).catch(() => undefined);
  }
}

export async function tail(file: string, lines = 30): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-lines).join('\n');
}

/** JSON log lines of a process's log file (pino), optionally only those with message `msg`. */
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON of any shape, checked by the assertions
export async function logLines(file: string, msg?: string): Promise<any[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const out = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line) as { msg?: string };
      if (msg === undefined || j.msg === msg) out.push(j);
    } catch {
      /* not JSON */
    }
  }
  return out;
}

export async function removeRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 2 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** A child process running a script of the suite (e.g. the tus peer), ready when it prints `ready`. */
export async function startScript(
  script: string,
  env: Record<string, string>,
  logFile: string,
): Promise<{ child: ChildProcess; pid: number; stop: () => Promise<void>; line: string }> {
  const child = spawn(process.execPath, [script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stderr!.pipe(log);
  let out = '';
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start; log ${logFile}`)), 30_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /^ready.*$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code}; log ${logFile}`));
    });
  });
  child.stdout!.pipe(log);
  const exited = new Promise((r) => child.once('exit', r));
  return {
    child,
    pid: child.pid!,
    line,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}
