// Shared pieces of the benchmark suite: the Kiln apps as OS processes (own database, Redis prefix,
// bucket), readings from /proc (peak RSS, CPU seconds, bytes read/written), HTTP helpers that stream
// request bodies from disk, a callback receiver, statistics and progress lines. Every figure of the
// suite is a ratio against a baseline measured in the same run (bench/suite.ts).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, createReadStream, createWriteStream, openSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pLimit from 'p-limit';
import { Client as PgClient } from 'pg';
import { ensureDatabase, migrate } from '../libs/database/src/migrator';

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

// ---------------------------------------------------------------------------------------------
// /proc readings

/** Peak and current resident set of a process (VmHWM / VmRSS), in bytes. */
export async function memoryOf(pid: number): Promise<{ peak: number; now: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { peak: kb('VmHWM'), now: kb('VmRSS') };
}

/**
 * Resets a process's peak RSS (VmHWM) to its current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux
 * ≥ 4.0), so each run reads its own peak. Returns false when the kernel refuses (then the peak is
 * the process's lifetime peak, and the report says so).
 */
export async function resetPeakMemory(pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU seconds (user + system) a process has used so far. */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** CPU seconds of a process split into user and system (kernel: syscalls, socket copies) time. */
export async function cpuSplitOf(pid: number): Promise<{ user: number; system: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  return { user: f[11] / 100, system: f[12] / 100 };
}

/** CPU seconds of a process's threads, summed by thread name (node main thread, V8 GC helpers, libuv pool). */
export async function threadCpuOf(pid: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => '');
    if (!stat) continue;
    const name = tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    out[name] = (out[name] ?? 0) + (f[11] + f[12]) / 100;
  }
  return out;
}

export function threadCpuDelta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(b)
      .map(([k, v]) => [k, Math.round((v - (a[k] ?? 0)) * 100) / 100])
      .filter(([, v]) => (v as number) > 0),
  );
}

/** CPU seconds of a process itself and of its children it has waited for (ffmpeg, ffprobe). */
export async function cpuTreeOf(pid: number): Promise<{ self: number; children: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  return { self: (f[11] + f[12]) / 100, children: (f[13] + f[14]) / 100 }; // utime stime cutime cstime
}

/** The machine's busy CPU seconds so far (all cores, every process): differences give core·s. */
export async function machineBusySeconds(): Promise<number> {
  return (await cpuTimes()).busy / 100;
}

/** CPU seconds so far of the services every request touches: the S3 server (radosgw + OSD + monitor of
 * BENCH_S3_DIR's instance, from its pid files), PostgreSQL (every postgres process), Redis. */
export async function servicesCpu(): Promise<{ s3: number; postgres: number; redis: number }> {
  const out = { s3: 0, postgres: 0, redis: 0 };
  const s3Dir = process.env.BENCH_S3_DIR;
  if (s3Dir) {
    for (const f of ['client.rgw.a.pid', 'osd.0.pid', 'mon.a.pid']) {
      const pid = Number((await readFile(path.join(s3Dir, 'run', f), 'utf8').catch(() => '')).trim());
      if (pid) out.s3 += await cpuSecondsOf(pid).catch(() => 0);
    }
  }
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = (await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '')).trim();
    if (comm === 'postgres') out.postgres += await cpuSecondsOf(Number(entry)).catch(() => 0);
    else if (comm === 'redis-server') out.redis += await cpuSecondsOf(Number(entry)).catch(() => 0);
  }
  return out;
}

export function cpuDelta(
  a: { s3: number; postgres: number; redis: number },
  b: { s3: number; postgres: number; redis: number },
) {
  return { s3: b.s3 - a.s3, postgres: b.postgres - a.postgres, redis: b.redis - a.redis };
}

/**
 * Bytes a process passed through read()/write()-like calls so far (/proc/<pid>/io rchar, wchar):
 * sockets included, so every byte of an upload that goes through a process shows up here.
 */
export async function ioOf(pid: number): Promise<{ rchar: number; wchar: number }> {
  const io = await readFile(`/proc/${pid}/io`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(io)?.[1] ?? NaN);
  return { rchar: field('rchar'), wchar: field('wchar') };
}

/** The machine's CPU time counters (/proc/stat first line): busy and total jiffies. */
async function cpuTimes(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + (v[4] ?? 0); // idle + iowait
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Share of the machine's CPU that was busy over `ms` (0–1). */
export async function busyShare(ms: number): Promise<number> {
  const a = await cpuTimes();
  await sleep(ms);
  const b = await cpuTimes();
  return b.total === a.total ? 0 : (b.busy - a.busy) / (b.total - a.total);
}

/**
 * Waits until the machine is quiet (CPU busy below `threshold` over 300 ms) or `maxMs` passed, so a
 * measurement does not start in the tail of the previous one (S3 server flushing, GC). Returns the
 * last busy share seen: recorded with each sample as a noise indicator.
 */
export async function quiesce(threshold = 0.3, maxMs = 8_000): Promise<number> {
  const deadline = Date.now() + maxMs;
  let share = 1;
  while (Date.now() < deadline) {
    share = await busyShare(300);
    if (share < threshold) break;
  }
  return share;
}

export function machineInfo(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    cpus: cpus.length,
    cpu_model: cpus[0]?.model ?? 'unknown',
    total_memory_mib: Math.round(os.totalmem() / MiB),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    load_average: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export function commandOutput(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 10_000 }, (err, stdout) => resolve(err ? '' : String(stdout)));
  });
}

// ---------------------------------------------------------------------------------------------
// Statistics

export function median(xs: number[]): number {
  return percentile(xs, 50);
}

/** Linear-interpolated percentile (p in 0–100) of a sample. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo] + (s[hi] - s[lo]) * (rank - lo);
}

/** Items in a rotating order per run, so no variant always goes first (shares the noise). */
export function rotate<T>(items: T[], run: number): T[] {
  const k = run % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

// ---------------------------------------------------------------------------------------------
// Files

/** A file of `size` random bytes, written as a stream (never whole in memory); reused when present. */
export async function randomFile(name: string, size: number): Promise<string> {
  await mkdir(TMP_DIR, { recursive: true });
  const file = path.join(TMP_DIR, name);
  const existing = await stat(file).catch(() => null);
  if (existing?.size === size) return file;
  const out = createWriteStream(file);
  let left = size;
  while (left > 0) {
    const n = Math.min(left, MiB);
    if (!out.write(randomBytes(n))) await once(out, 'drain');
    left -= n;
  }
  out.end();
  await once(out, 'finish');
  return file;
}

/** [start, end] (inclusive) of each chunk of a file. */
export function chunkRanges(size: number, chunk: number): { start: number; end: number }[] {
  const out = [];
  for (let s = 0; s < size; s += chunk) out.push({ start: s, end: Math.min(size, s + chunk) - 1 });
  return out;
}

// ---------------------------------------------------------------------------------------------
// HTTP

export interface Answer {
  status: number;
  text: string;
  headers: http.IncomingHttpHeaders;
}

function request(
  url: string,
  method: string,
  headers: Record<string, string>,
  agent: http.Agent | undefined,
  write: (req: http.ClientRequest) => void,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8'), headers: res.headers }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    write(req);
  });
}

/** One HTTP request with a small in-memory body (JSON, a 2 KiB image) or none. */
export function send(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
  agent?: http.Agent,
): Promise<Answer> {
  const h = body ? { ...headers, 'Content-Length': String(body.length) } : headers;
  return request(url, method, h, agent, (req) => req.end(body));
}

/** One HTTP request whose body is bytes [start, end] of a file, streamed from disk. */
export function sendFile(
  url: string,
  method: string,
  headers: Record<string, string>,
  file: string,
  start: number,
  end: number,
  agent?: http.Agent,
): Promise<Answer> {
  return request(url, method, { ...headers, 'Content-Length': String(end - start + 1) }, agent, (req) => {
    const body = createReadStream(file, { start, end, highWaterMark: 256 * 1024 });
    body.on('error', (err) => req.destroy(err));
    body.pipe(req);
  });
}

export function sendJson(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: unknown,
  agent?: http.Agent,
): Promise<Answer> {
  return send(
    url,
    method,
    { ...headers, 'Content-Type': 'application/json' },
    Buffer.from(JSON.stringify(body)),
    agent,
  );
}

export function expectStatus(answer: Answer, ok: number[], what: string): Answer {
  if (!ok.includes(answer.status)) throw new Error(`${what}: HTTP ${answer.status}: ${answer.text.slice(0, 500)}`);
  return answer;
}

/** Runs `work` over items with at most `n` in flight (p-limit). */
export async function pool<T>(items: T[], n: number, work: (item: T, i: number) => Promise<void>): Promise<void> {
  const limit = pLimit(n);
  await Promise.all(items.map((item, i) => limit(() => work(item, i))));
}

export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

// ---------------------------------------------------------------------------------------------
// Callback receiver

export interface Arrival {
  /** performance clock (nowMs) when the body was complete */
  at: number;
  /** wall clock (epoch ms) at the same moment, to line up with BullMQ's timestamps */
  epochMs: number;
  headers: http.IncomingHttpHeaders;
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON of any shape, checked by the assertions
  json: any;
}

/** Receives Kiln's callbacks and resolves a waiter per job id when its callback arrives. */
export class CallbackReceiver {
  private server?: http.Server;
  private readonly arrived = new Map<string, Arrival>();
  private readonly waiters = new Map<string, (a: Arrival) => void>();
  url = '';

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const at = nowMs();
        const epochMs = Date.now();
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
        let json: { id?: string } | null = null;
        try {
          json = JSON.parse(Buffer.concat(parts).toString('utf8')) as { id?: string };
        } catch {
          return;
        }
        const id = json?.id;
        if (!id || this.arrived.has(id)) return; // a retry of a delivered callback
        const arrival = { at, epochMs, headers: req.headers, json };
        this.arrived.set(id, arrival);
        this.waiters.get(id)?.(arrival);
        this.waiters.delete(id);
      });
    });
    this.server.keepAliveTimeout = 65_000;
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}/hook`;
    return this;
  }

  /** Resolves when the callback of `jobId` has arrived (at once if it already has). */
  waitFor(jobId: string, timeoutMs = 600_000): Promise<Arrival> {
    const done = this.arrived.get(jobId);
    if (done) return Promise.resolve(done);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(jobId);
        reject(new Error(`no callback for job ${jobId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(jobId, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
    });
  }

  forget(jobId: string): void {
    this.arrived.delete(jobId);
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

// ---------------------------------------------------------------------------------------------
// Kiln processes

export type AppName = 'api-gateway' | 'assembler' | 'converter';

/** What the whole suite shares: S3 settings, one database, the log folder. */
export interface SuiteContext {
  runs: number;
  databaseUrl: string;
  s3: { endpoint: string; accessKey: string; secretKey: string; region: string };
  bucket: string;
  logDir: string;
}

/** A database of the suite's own (fresh, migrated), dropped at the end unless BENCH_DATABASE_URL names one. */
export async function suiteDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  if (process.env.BENCH_DATABASE_URL) {
    await ensureDatabase(process.env.BENCH_DATABASE_URL);
    await migrate(process.env.BENCH_DATABASE_URL);
    return { url: process.env.BENCH_DATABASE_URL, drop: async () => undefined };
  }
  const admin = new URL(process.env.KILN_TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres');
  admin.pathname = '/postgres';
  const name = `kiln_bench_${Math.floor(Date.now() / 1000).toString(36)}_${randomBytes(3).toString('hex')}`;
  const url = new URL(admin.toString());
  url.pathname = `/${name}`;
  await ensureDatabase(url.toString());
  await migrate(url.toString());
  return {
    url: url.toString(),
    async drop() {
      const c = new PgClient({ connectionString: admin.toString() });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * PostgreSQL's counters for one database (pg_stat_database): transactions (each statement outside an
 * explicit transaction counts as one) and rows read and written. Read twice around a run, after
 * waiting for the server to publish its pending counters (it does so about once a second).
 */
export async function databaseCounters(
  url: string,
): Promise<{ transactions: number; rowsRead: number; rowsWritten: number }> {
  await sleep(1_100);
  const c = new PgClient({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ x: string; r: string; w: string }>(
      'SELECT xact_commit + xact_rollback AS x, tup_returned + tup_fetched AS r, tup_inserted + tup_updated + tup_deleted AS w FROM pg_stat_database WHERE datname = current_database()',
    );
    return { transactions: Number(rows[0].x), rowsRead: Number(rows[0].r), rowsWritten: Number(rows[0].w) };
  } finally {
    await c.end();
  }
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
      NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS ?? '--max-semi-space-size=2',
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
