// Configuration is checked at start by the real built apps (dist/, `node scripts/build.mjs`): a
// missing or malformed variable stops the process within moments, before any connection, with one
// stderr line `invalid configuration: <VAR>: <why>` (libs/config/src/config.ts), and never prints
// a secret of its environment. Each app runs as an OS process with an explicit environment: PATH,
// HOME and the variables below only (nothing inherited, in particular no S3 settings).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import path from 'node:path';

jest.setTimeout(30_000);

const ROOT = path.resolve(__dirname, '..');

type App = 'api-gateway' | 'converter' | 'assembler';
const APPS: App[] = ['api-gateway', 'converter', 'assembler'];
const mainOf = (app: App) => path.join(ROOT, 'dist/apps', app, 'src/main.js');

/**
 * A process that fails its configuration exits by itself (configuration is checked before any
 * connection is made); one still running after this long is killed and counts as hanging. The
 * figure is a hang detector, not a speed check: idle, the exit takes under a second.
 */
const EXIT_WITHIN_MS = 30_000;
/** Apps started at once by this file (each start is CPU-bound). */
const PARALLEL = 2;

// Distinctive secret values, so any echo of them is unambiguous.
const API_KEY = 'kiln_cfgtest_apikey_7f3a9c1d2e5b';
const OTHER_API_KEY = 'kiln_cfgtest_apikey2_0e4d6a8c';
const WEBHOOK_SECRET = 'whsec_cfgtest_4b8e2a6f0c1d9e7a';
const S3_SECRET = 's3sk_cfgtest_9d1c7e3b5a2f4c6e';
const DB_PASSWORD = 'dbpw_cfgtest_5e9a1c3d7b';
const SECRETS = [API_KEY, OTHER_API_KEY, WEBHOOK_SECRET, S3_SECRET, DB_PASSWORD];

/** A complete, valid configuration. Every endpoint is unreachable (port 1): nothing may connect anyway. */
const BASE: Readonly<Record<string, string>> = {
  NODE_ENV: 'test',
  KILN_HOST: '127.0.0.1',
  KILN_API_KEYS: `${API_KEY},${OTHER_API_KEY}`,
  KILN_WEBHOOK_SECRET: WEBHOOK_SECRET,
  DATABASE_URL: `postgresql://kiln:${DB_PASSWORD}@127.0.0.1:1/kiln_config_e2e`,
  REDIS_URL: 'redis://127.0.0.1:1',
  S3_ENDPOINT: 'http://127.0.0.1:1',
  S3_ACCESS_KEY: 'kiln_cfgtest_access',
  S3_SECRET_KEY: S3_SECRET,
};

const REQUIRED = [
  'KILN_API_KEYS',
  'KILN_WEBHOOK_SECRET',
  'DATABASE_URL',
  'REDIS_URL',
  'S3_ENDPOINT',
  'S3_ACCESS_KEY',
  'S3_SECRET_KEY',
] as const;

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** True when the test had to kill the process because it was still running. */
  killed: boolean;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

let running = 0;
const waiting: (() => void)[] = [];
async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= PARALLEL) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** Starts `app` with exactly PATH, HOME and `vars`; resolves when it exits (or is killed after `limitMs`). */
function run(app: App, vars: Record<string, string>, limitMs = EXIT_WITHIN_MS): Promise<Outcome> {
  return slot(() => spawnApp(app, vars, limitMs));
}

function spawnApp(app: App, vars: Record<string, string>, limitMs: number): Promise<Outcome> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? homedir(),
    ...vars,
  };
  const started = Date.now();
  const child = spawn(process.execPath, [mainOf(app)], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, limitMs);
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started, killed });
    });
  });
}

const without = (name: string): Record<string, string> =>
  Object.fromEntries(Object.entries(BASE).filter(([k]) => k !== name));

/** The `invalid configuration: ...` lines of stderr. */
const configLines = (stderr: string) => stderr.split(/\r?\n/).filter((l) => l.startsWith('invalid configuration: '));

const describeOutcome = (o: Outcome) =>
  `exit ${o.code} signal ${o.signal} after ${o.ms} ms\n--- stderr ---\n${o.stderr}\n--- stdout ---\n${o.stdout}`;

/** Exited by itself (not killed as hanging), non-zero. */
function expectQuickFailure(o: Outcome): void {
  if (o.killed || o.code === 0 || o.code === null)
    throw new Error(`expected a non-zero exit by itself, got ${describeOutcome(o)}`);
  expect(o.killed).toBe(false);
  expect(o.code).not.toBe(0);
}

function expectNoSecrets(o: Outcome, extra: string[] = []): void {
  for (const secret of [...SECRETS, ...extra]) {
    expect(o.stdout).not.toContain(secret);
    expect(o.stderr).not.toContain(secret);
  }
}

beforeAll(() => {
  for (const app of APPS) {
    if (!existsSync(mainOf(app)))
      throw new Error(`${path.relative(ROOT, mainOf(app))} is missing: run \`node scripts/build.mjs\` first`);
  }
});

describe('a missing required variable stops the app at start', () => {
  // The gateway without each required variable in turn; each worker app without two of them.
  const matrix: (readonly [App, string])[] = [
    ...REQUIRED.map((variable) => ['api-gateway', variable] as const),
    ['converter', 'REDIS_URL'],
    ['converter', 'KILN_WEBHOOK_SECRET'],
    ['assembler', 'DATABASE_URL'],
    ['assembler', 'S3_SECRET_KEY'],
  ];

  test.concurrent.each(matrix)('%s without %s', async (app, variable) => {
    const o = await run(app, without(variable));
    expectQuickFailure(o);
    // One line, naming that variable only, in config.ts's format; no stack trace.
    expect(configLines(o.stderr)).toEqual([`invalid configuration: ${variable}: is required`]);
    expect(o.stderr).not.toMatch(/^\s+at /m);
    expectNoSecrets(o);
  });

  test.concurrent('api-gateway treats an empty KILN_API_KEYS as missing', async () => {
    const o = await run('api-gateway', { ...BASE, KILN_API_KEYS: '' });
    expectQuickFailure(o);
    expect(configLines(o.stderr)).toEqual(['invalid configuration: KILN_API_KEYS: is required']);
    expectNoSecrets(o);
  });

  test.concurrent('api-gateway with no configuration at all names every required variable', async () => {
    const o = await run('api-gateway', {});
    expectQuickFailure(o);
    const named = configLines(o.stderr).map((l) => /^invalid configuration: ([A-Z0-9_]+): /.exec(l)?.[1]);
    expect([...named].sort()).toEqual([...REQUIRED].sort());
  });
});

describe('a malformed value stops the app at start, naming the variable', () => {
  // [app, variable, value, values that must not be echoed besides SECRETS]
  const matrix: (readonly [App, string, string, string[]])[] = [
    ['api-gateway', 'KILN_PORT', 'abc', []],
    ['api-gateway', 'KILN_MAX_FILE_SIZE', 'lots', []],
    ['api-gateway', 'REDIS_URL', 'http://x', []],
    ['converter', 'REDIS_URL', 'http://x', []],
    ['assembler', 'KILN_MAX_FILE_SIZE', 'lots', []],
    ['api-gateway', 'KILN_PORT', '0', []],
    ['api-gateway', 'DATABASE_URL', `mysql://kiln:${DB_PASSWORD}@127.0.0.1:1/kiln`, []],
    ['api-gateway', 'S3_ENDPOINT', 'not a url', []],
    ['api-gateway', 'KILN_LOG_LEVEL', 'loud', []],
    // Secrets that are present but too weak: refused without printing them (nor the good ones).
    ['api-gateway', 'KILN_API_KEYS', `${API_KEY},tinykey_q7x`, ['tinykey_q7x']],
    ['api-gateway', 'KILN_WEBHOOK_SECRET', 'whtiny_k3y9', ['whtiny_k3y9']],
  ];

  test.concurrent.each(matrix)('%s with %s=%s', async (app, variable, value, secrets) => {
    const o = await run(app, { ...BASE, [variable]: value });
    expectQuickFailure(o);
    expect(configLines(o.stderr)).toEqual([
      expect.stringMatching(new RegExp(`^invalid configuration: ${variable}: \\S`)),
    ]);
    expect(o.stderr).not.toMatch(/^\s+at /m);
    expectNoSecrets(o, secrets);
  });

  // A variable that is set but is not a number must not be reported as missing.
  test.concurrent.each([
    ['KILN_PORT', 'abc'],
    ['KILN_UPLOAD_TTL_SECONDS', 'a week'],
  ])('api-gateway with %s=%s says the value is wrong, not that it is required', async (variable, value) => {
    const o = await run('api-gateway', { ...BASE, [variable]: value });
    expectQuickFailure(o);
    const lines = configLines(o.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0].startsWith(`invalid configuration: ${variable}: `)).toBe(true);
    expect(lines[0]).not.toBe(`invalid configuration: ${variable}: is required`);
  });
});

describe('the base environment itself is valid', () => {
  // Proves each failure above comes from the one variable changed: with BASE, configuration passes
  // and the app goes on to connect (to port 1: it fails or keeps retrying; either way no config line).
  test.concurrent.each(APPS)('%s gets past configuration without printing a secret', async (app) => {
    const o = await run(app, { ...BASE, KILN_PORT: String(await freePort()), KILN_LOG_LEVEL: 'debug' }, 4_000);
    expect(configLines(o.stderr)).toEqual([]);
    expect(o.stderr).not.toContain('invalid configuration');
    expectNoSecrets(o);
  });
});
