// A Redis server of a test's own (never the machine's one on 6379), for tests that stop, restart or
// reconfigure Redis: AOF on (queued jobs survive a restart as in the compose deployment), optionally
// as a one-node Redis Cluster that owns every slot (multi-key commands across slots fail, as on a
// real cluster).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, sleep } from './stack';

const run = promisify(execFile);

export interface RedisServerOptions {
  /** Append-only file (fsynced on SHUTDOWN): data survives a restart. Default true. */
  appendonly?: boolean;
  /** Run as a one-node Redis Cluster holding all 16384 slots. */
  cluster?: boolean;
  /** Run as a member of a multi-node cluster (cluster mode on, no slots: `RedisCluster` assigns them). */
  clusterMember?: boolean;
  /** More redis-server arguments (e.g. `--cluster-node-timeout 2000`). */
  extraArgs?: string[];
}

export class RedisServer {
  port = 0;
  dir = '';
  private child?: ChildProcess;
  private exited?: Promise<void>;
  readonly log: string[] = [];

  constructor(private readonly options: RedisServerOptions = {}) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.port ||= await freePort();
    this.dir ||= await mkdtemp(path.join(tmpdir(), 'kiln-redis-'));
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      this.options.appendonly === false ? 'no' : 'yes',
      '--dir',
      this.dir,
      ...(this.options.cluster || this.options.clusterMember
        ? ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf']
        : []),
      ...(this.options.extraArgs ?? []),
    ];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer) => {
      this.log.push(b.toString());
      if (this.log.length > 500) this.log.splice(0, this.log.length - 500);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await this.waitFor(async () => (await this.cli('PING')).trim() === 'PONG', 'PONG');
    if (this.options.cluster) {
      const slots = await this.cli('CLUSTER', 'INFO');
      if (!/cluster_slots_assigned:16384/.test(slots)) await this.cli('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
      await this.waitFor(async () => /cluster_state:ok/.test(await this.cli('CLUSTER', 'INFO')), 'cluster_state:ok');
    }
    return this;
  }

  /** `redis-cli shutdown` (the AOF is fsynced), and waits for the process to end. */
  async shutdown(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    await this.cli('SHUTDOWN').catch(() => undefined); // the connection closes before an answer
    await this.exited;
  }

  /** SIGKILL, as a crash: no AOF fsync, no goodbye to the cluster. */
  async kill(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Stops it and removes its data directory. */
  async destroy(): Promise<void> {
    if (this.running) await this.shutdown();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }

  async cli(...args: string[]): Promise<string> {
    const { stdout } = await run('redis-cli', ['-p', String(this.port), ...args], { timeout: 10_000 });
    return stdout;
  }

  /** Every key matching a glob pattern (SCAN). */
  async keys(pattern: string): Promise<string[]> {
    const { stdout } = await run('redis-cli', ['-p', String(this.port), '--scan', '--pattern', pattern], {
      timeout: 30_000,
      maxBuffer: 64 << 20,
    });
    return stdout.split('\n').filter(Boolean);
  }

  private async waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.child?.exitCode !== null)
        throw new Error(`redis-server exited (${this.child?.exitCode}):\n${this.log.join('')}`);
      if (await check().catch(() => false)) return;
      if (Date.now() > deadline)
        throw new Error(`redis-server on ${this.port}: no ${what} in ${timeoutMs} ms:\n${this.log.join('')}`);
      await sleep(50);
    }
  }
}
