// Starts Kiln's apps as real OS processes (from dist/) against this test file's own database,
// Redis key prefix and S3 bucket. Used by the e2e tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../libs/database/src/testing/test-database';

const ROOT = path.resolve(__dirname, '..');

export type AppName = 'api-gateway' | 'assembler' | 'converter';

export interface RunningApp {
  name: string;
  app: AppName;
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
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

/** Where and how one app runs, e.g. on a test host (test/netns.ts). */
export interface AppPlacement {
  /** Prefix of the command (e.g. `ip netns exec <ns>`); the app is still `node dist/apps/<app>/src/main.js`. */
  command?: string[];
  /** Environment of this app only (over the stack's). */
  env?: Record<string, string>;
  /** A gateway listens on this address and the stack reaches it there (default 127.0.0.1). */
  host?: string;
}

export interface StackOptions {
  converters?: number;
  gateways?: number;
  assemblers?: number;
  env?: Record<string, string>;
  /** The apps reach PostgreSQL at this address instead (e.g. a test's TCP proxy); the database stays the stack's own. */
  databaseAddress?: { host: string; port: number };
  /** Per-app command prefix, environment and gateway address (default: every app on this host, loopback). */
  placement?: (app: AppName, name: string) => AppPlacement | undefined;
}

export class Stack {
  readonly apps: RunningApp[] = [];
  readonly apiKey = `kiln_test_${randomBytes(12).toString('hex')}`;
  readonly otherKey = `kiln_other_${randomBytes(12).toString('hex')}`;
  readonly webhookSecret = `whsec_${randomBytes(16).toString('hex')}`;
  readonly gatewayUrls: string[] = [];
  env: Record<string, string> = {};
  db!: TestDatabase;
  private placement: StackOptions['placement'];

  get url(): string {
    return this.gatewayUrls[0];
  }

  async start(options: StackOptions = {}): Promise<this> {
    this.db = await createTestDatabase();
    const bucket = `kiln-e2e-${randomBytes(5).toString('hex')}`;
    this.env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'test',
      NODE_OPTIONS: '--max-semi-space-size=2 --expose-gc',
      MALLOC_ARENA_MAX: '2',
      KILN_API_KEYS: `${this.apiKey},${this.otherKey}`,
      KILN_WEBHOOK_SECRET: this.webhookSecret,
      // The web page is served only with its own session secret.
      KILN_WEB_SESSION_SECRET: randomBytes(24).toString('hex'),
      DATABASE_URL: options.databaseAddress ? withAddress(this.db.url, options.databaseAddress) : this.db.url,
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      KILN_QUEUE_PREFIX: `kiln-e2e-${randomBytes(5).toString('hex')}`,
      S3_ENDPOINT: required('S3_ENDPOINT'),
      S3_ACCESS_KEY: required('S3_ACCESS_KEY'),
      S3_SECRET_KEY: required('S3_SECRET_KEY'),
      S3_BUCKET: bucket,
      KILN_ALLOW_PRIVATE_URLS: 'true',
      KILN_CALLBACK_BACKOFF_MS: '200',
      KILN_LOG_LEVEL: 'info',
      KILN_FFMPEG_THREADS: '1',
      KILN_SHUTDOWN_GRACE_SECONDS: '5',
      // Tests poll fast; the rate limit has its own test.
      KILN_RATE_LIMIT_PER_MINUTE: '0',
      ...options.env,
    };
    this.placement = options.placement;
    const gateways = options.gateways ?? 1;
    for (let i = 0; i < gateways; i++) {
      const name = `gateway-${i + 1}`;
      const host = this.placement?.('api-gateway', name)?.host ?? '127.0.0.1';
      const port = await freePort();
      this.gatewayUrls.push(`http://${host}:${port}`);
      this.spawnApp('api-gateway', name, { KILN_PORT: String(port), KILN_HOST: host });
    }
    for (let i = 0; i < (options.assemblers ?? 1); i++) this.spawnApp('assembler', `assembler-${i + 1}`);
    for (let i = 0; i < (options.converters ?? 2); i++) this.spawnApp('converter', `converter-${i + 1}`);
    await Promise.all(this.gatewayUrls.map((u) => this.waitReady(u)));
    await Promise.all(this.apps.filter((a) => a.app !== 'api-gateway').map((a) => this.waitForLog(a, /ready"/)));
    return this;
  }

  spawnApp(app: AppName, name: string, extraEnv: Record<string, string> = {}): RunningApp {
    const placed = this.placement?.(app, name);
    const [command, ...args] = [
      ...(placed?.command ?? []),
      process.execPath,
      path.join(ROOT, 'dist/apps', app, 'src/main.js'),
    ];
    const child = spawn(command, args, {
      env: { ...this.env, ...placed?.env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    const keep = (b: Buffer) => {
      output.push(b.toString());
      if (output.length > 2000) output.splice(0, output.length - 2000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const running: RunningApp = { name, app, child, output, exited };
    this.apps.push(running);
    return running;
  }

  async waitReady(url: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      try {
        const r = await fetch(`${url}/health/ready`);
        if (r.ok) return;
        last = await r.text();
      } catch {
        /* not listening yet */
      }
      const dead = this.apps.find((a) => a.child.exitCode !== null);
      if (dead) throw new Error(`${dead.name} exited (${dead.child.exitCode}):\n${dead.output.join('').slice(-3000)}`);
      await sleep(100);
    }
    throw new Error(`gateway at ${url} not ready in ${timeoutMs} ms (last answer: ${last}):\n${this.logs()}`);
  }

  async waitForLog(app: RunningApp, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (pattern.test(app.output.join(''))) return;
      if (app.child.exitCode !== null)
        throw new Error(`${app.name} exited (${app.child.exitCode}):\n${app.output.join('').slice(-3000)}`);
      await sleep(100);
    }
    throw new Error(
      `${app.name}: no log line matching ${pattern} in ${timeoutMs} ms:\n${app.output.join('').slice(-3000)}`,
    );
  }

  logs(): string {
    return this.apps.map((a) => `--- ${a.name}\n${a.output.join('').slice(-4000)}`).join('\n');
  }

  async stopApp(app: RunningApp, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (app.child.exitCode === null && app.child.signalCode === null) app.child.kill(signal);
    const timer = setTimeout(() => app.child.kill('SIGKILL'), 15_000);
    const code = await app.exited;
    clearTimeout(timer);
    return code;
  }

  async stop(): Promise<void> {
    await Promise.all(this.apps.map((a) => this.stopApp(a)));
    await this.db?.drop().catch(() => undefined);
  }

  /** fetch against a gateway with the API key. */
  api(pathname: string, init: RequestInit & { key?: string | null; base?: string } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const key = init.key === undefined ? this.apiKey : init.key;
    if (key !== null) headers.set('X-Api-Key', key);
    return fetch(`${init.base ?? this.url}${pathname}`, { ...init, headers });
  }
}

function withAddress(url: string, address: { host: string; port: number }): string {
  const u = new URL(url);
  u.hostname = address.host;
  u.port = String(address.port);
  return u.toString();
}

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests through npm test (it starts the local S3 server)`);
  return v;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The JSON body of a response (tests read loosely typed API answers). */
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON of any shape, checked by the assertions
export async function json(res: Response | Promise<Response>): Promise<any> {
  return (await res).json();
}
