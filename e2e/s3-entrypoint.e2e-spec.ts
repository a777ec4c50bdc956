// What users deploy, checked without a Docker engine: the S3 container's entrypoint
// (scripts/s3-local.sh run, as deploy/s3/Dockerfile runs it) serves S3 as a plain process here,
// keeps its data across a restart and stops cleanly on SIGTERM.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client as S3Client } from 'minio';
import { freePort } from '../test/stack';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');

interface Entrypoint {
  stderr: string[];
  exited: Promise<number | null>;
  pid: number;
}

describe('the S3 container entrypoint (scripts/s3-local.sh run)', () => {
  const bucket = 'kiln-entrypoint';
  const accessKey = 'kiln-entrypoint';
  const secretKey = `entrypoint-${randomBytes(12).toString('hex')}`;
  let dir = '';
  let script = '';
  let s3Port = 0;
  let monPort = 0;
  const started: Entrypoint[] = [];

  beforeAll(async () => {
    for (const bin of ['ceph-mon', 'ceph-osd', 'radosgw', 'curl']) {
      if (
        !(await run('bash', ['-c', `command -v ${bin}`]).then(
          () => true,
          () => false,
        ))
      ) {
        throw new Error(
          `${bin} is missing: run scripts/ensure-deps.sh (apt: ceph-mon ceph-osd radosgw ceph-common curl)`,
        );
      }
    }
    dir = mkdtempSync(path.join(tmpdir(), 'kiln-s3-entrypoint-'));
    // As deploy/s3/Dockerfile installs it: the script alone, readable by the ceph user wherever this
    // checkout lives (a clone in a private temporary folder is not).
    script = path.join(dir, 'opt', 'kiln-s3', 's3-local.sh');
    mkdirSync(path.dirname(script), { recursive: true, mode: 0o755 });
    copyFileSync(path.join(ROOT, 'scripts/s3-local.sh'), script);
    chmodSync(script, 0o755);
    chmodSync(path.join(dir, 'opt'), 0o755);
    chmodSync(path.dirname(script), 0o755);
    // The monitor port decides the OSD's port range (MON_PORT+11 .. MON_PORT+110): the S3 port must lie outside.
    for (;;) {
      monPort = await freePort();
      s3Port = await freePort();
      if (monPort + 110 <= 65535 && (s3Port < monPort + 11 || s3Port > monPort + 110)) break;
    }
  });

  afterAll(async () => {
    for (const e of started) {
      try {
        process.kill(e.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await e.exited;
    }
    if (dir) {
      await run('bash', [script, 'stop'], {
        env: { ...process.env, ...settings() },
      }).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  function settings(): Record<string, string> {
    return {
      KILN_S3_DIR: path.join(dir, 'data'),
      KILN_S3_PORT: String(s3Port),
      KILN_S3_MON_PORT: String(monPort),
      KILN_S3_BIND: '127.0.0.1',
      KILN_S3_BLOCK_GIB: '8',
      KILN_S3_REQUIRE_SECRET: 'true',
      KILN_S3_BUCKETS: bucket,
      S3_ACCESS_KEY: accessKey,
    };
  }

  /** Starts the entrypoint as the image does; as root, as Debian's ceph user (the image's USER). */
  function entrypoint(env: Record<string, string>): Entrypoint {
    const data = env.KILN_S3_DIR;
    const asCeph = process.getuid?.() === 0;
    let command = ['bash', script, 'run'];
    if (asCeph) {
      const { uid, gid } = cephUser();
      mkdirSync(data, { recursive: true }); // the image's volume: a folder owned by ceph
      chownSync(dir, uid, gid);
      chownSync(data, uid, gid);
      command = ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--init-groups', ...command];
    }
    const base: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^(KILN_S3_|S3_)/.test(k)) base[k] = v;
    const child = spawn(command[0], command.slice(1), {
      env: { ...base, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const stderr: string[] = [];
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(...chunk.split('\n').filter(Boolean)));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const e = { stderr, exited, pid: child.pid as number };
    started.push(e);
    return e;
  }

  /** The last lines of the daemons' logs, for a failure message. */
  function daemonLogs(): string {
    const logDir = path.join(dir, 'data', 'log');
    let out = '';
    try {
      for (const f of readdirSync(logDir)) {
        const lines = readFileSync(path.join(logDir, f), 'utf8').split('\n').filter(Boolean);
        out += `\n--- ${f}\n${lines.slice(-8).join('\n')}`;
      }
    } catch {
      out += `\n(no logs in ${logDir})`;
    }
    return out;
  }

  /** Resolves once a stderr line matches, rejects when the process exits first or after `ms`. */
  async function lineMatching(e: Entrypoint, pattern: RegExp, ms: number): Promise<string> {
    const deadline = Date.now() + ms;
    let exited = false;
    void e.exited.then(() => (exited = true));
    for (;;) {
      const line = e.stderr.find((l) => pattern.test(l));
      if (line) return line;
      if (exited) throw new Error(`entrypoint exited before ${pattern}:\n${e.stderr.join('\n')}${daemonLogs()}`);
      if (Date.now() > deadline)
        throw new Error(`no ${pattern} within ${ms} ms:\n${e.stderr.join('\n')}${daemonLogs()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function ready(): Promise<boolean> {
    return run('bash', [script, 'ready'], {
      env: { ...process.env, ...settings() },
    }).then(
      () => true,
      () => false,
    );
  }

  function client(): S3Client {
    // 5 MiB parts: the object below goes up as a multipart upload.
    return new S3Client({
      endPoint: '127.0.0.1',
      port: s3Port,
      useSSL: false,
      accessKey,
      secretKey,
      region: 'us-east-1',
      pathStyle: true,
      partSize: 5 * 1024 * 1024,
    });
  }

  /** Pids of processes whose command line names this instance's ceph.conf. */
  function daemonsOfThisInstance(): number[] {
    const conf = path.join(dir, 'data', 'ceph.conf');
    const pids: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(conf)) pids.push(Number(entry));
      } catch {
        // exited meanwhile
      }
    }
    return pids;
  }

  it('refuses to serve without S3_SECRET_KEY (the image never runs with the development key)', async () => {
    const e = entrypoint(settings());
    await expect(e.exited).resolves.toBe(1);
    expect(e.stderr.join('\n')).toMatch(/S3_SECRET_KEY must be set/);
    expect(daemonsOfThisInstance()).toEqual([]);
  }, 30_000);

  it('serves S3 with the bucket and key it was given, keeps the data across a restart, and stops on SIGTERM', async () => {
    const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const body = randomBytes(7 * 1024 * 1024 + 123); // two parts of a 5 MiB multipart upload

    const first = entrypoint({ ...settings(), S3_SECRET_KEY: secretKey });
    await lineMatching(first, /serving S3 on http:\/\/127\.0\.0\.1:\d+/, 150_000);
    expect(await ready()).toBe(true);
    const s3 = client();
    expect(await s3.bucketExists(bucket)).toBe(true);
    await s3.makeBucket('kiln-made-by-client', 'us-east-1');
    await s3.putObject('kiln-made-by-client', 'round/trip.bin', body, body.length, {
      'Content-Type': 'application/octet-stream',
    });
    const first2 = await readAll(await s3.getObject('kiln-made-by-client', 'round/trip.bin'));
    expect(sha256(first2)).toBe(sha256(body));

    // SIGTERM (what `docker stop` sends through tini): every daemon stops, the script exits 0.
    process.kill(first.pid, 'SIGTERM');
    await expect(first.exited).resolves.toBe(0);
    expect(first.stderr.join('\n')).toMatch(/signal received: stopping[\s\S]*stopped/);
    expect(daemonsOfThisInstance()).toEqual([]);
    expect(await ready()).toBe(false);

    // A container restart: the same volume, the cluster starts from its data (no new cluster).
    const second = entrypoint({ ...settings(), S3_SECRET_KEY: secretKey });
    await lineMatching(second, /serving S3 on/, 150_000);
    expect(second.stderr.join('\n')).toMatch(/restarting the existing cluster/);
    expect(second.stderr.join('\n')).toMatch(new RegExp(`bucket ${bucket} exists`));
    const again = await readAll(await client().getObject('kiln-made-by-client', 'round/trip.bin'));
    expect(sha256(again)).toBe(sha256(body));
    process.kill(second.pid, 'SIGTERM');
    await expect(second.exited).resolves.toBe(0);
    expect(daemonsOfThisInstance()).toEqual([]);
  }, 420_000);
});

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

function cephUser(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('ceph:'));
  if (!line)
    throw new Error(
      'no ceph user on this machine (it comes with the ceph-common package): apt-get install -y ceph-common',
    );
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
