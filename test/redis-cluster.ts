// A real Redis Cluster of a test's own: six `redis-server --cluster-enabled yes` on free ports
// (3 primaries, 3 replicas, made by `redis-cli --cluster create … --cluster-replicas 1`), with a
// short node timeout so a crashed primary's replica takes over within seconds. The test can fail
// over the primary that owns a key's slot, by `CLUSTER FAILOVER` on its replica or by SIGKILL.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RedisServer } from './redis-server';
import { sleep } from './stack';

const run = promisify(execFile);

export interface ClusterNodeView {
  id: string;
  port: number;
  role: 'master' | 'slave';
  failed: boolean;
  primaryId: string | null;
  slots: [number, number][];
}

export class RedisCluster {
  readonly nodes: RedisServer[];

  constructor(size = 6, nodeTimeoutMs = 2_000) {
    this.nodes = Array.from(
      { length: size },
      () =>
        new RedisServer({
          appendonly: false,
          clusterMember: true,
          extraArgs: ['--cluster-node-timeout', String(nodeTimeoutMs)],
        }),
    );
  }

  /** `host:port,…` of every node: the REDIS_CLUSTER_NODES value. */
  get seeds(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  async start(): Promise<this> {
    await Promise.all(this.nodes.map((n) => n.start()));
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...this.nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      {
        timeout: 60_000,
      },
    );
    await this.waitHealthy('the cluster to form');
    return this;
  }

  /** The cluster as a live node sees it (CLUSTER NODES). */
  async view(): Promise<ClusterNodeView[]> {
    const live = this.nodes.find((n) => n.running);
    if (!live) throw new Error('no cluster node is running');
    const text = await live.cli('CLUSTER', 'NODES');
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [id, addr, flags, primary, , , , , ...slots] = line.split(' ');
        return {
          id,
          port: Number(/:(\d+)@/.exec(addr)?.[1]),
          role: flags.includes('master') ? 'master' : 'slave',
          // `fail` is agreed by the cluster; `fail?` is one node's suspicion: both mean "do not count on it".
          failed: flags.split(',').some((f) => f === 'fail' || f === 'fail?'),
          primaryId: primary === '-' ? null : primary,
          slots: slots
            .filter((s) => /^\d/.test(s))
            .map((s) => {
              const [a, b] = s.split('-').map(Number);
              return [a, b ?? a] as [number, number];
            }),
        };
      });
  }

  async slotOf(key: string): Promise<number> {
    const live = this.nodes.find((n) => n.running)!;
    return Number((await live.cli('CLUSTER', 'KEYSLOT', key)).trim());
  }

  /** The primary that serves a key's slot now, and one of its replicas. */
  async ownerOf(key: string): Promise<{ primary: RedisServer; replica: RedisServer }> {
    const slot = await this.slotOf(key);
    const view = await this.view();
    const owner = view.find(
      (v) => v.role === 'master' && !v.failed && v.slots.some(([a, b]) => slot >= a && slot <= b),
    );
    if (!owner) throw new Error(`no primary serves slot ${slot}`);
    const replica = view.find((v) => v.primaryId === owner.id && !v.failed);
    if (!replica) throw new Error(`the primary on ${owner.port} has no live replica`);
    const byPort = (port: number) => this.nodes.find((n) => n.port === port)!;
    return { primary: byPort(owner.port), replica: byPort(replica.port) };
  }

  /** A coordinated failover: the replica of the key's primary takes over with no write lost. Returns the new primary. */
  async manualFailover(key: string): Promise<{ from: number; to: number }> {
    const { primary, replica } = await this.ownerOf(key);
    await replica.cli('CLUSTER', 'FAILOVER');
    await this.waitFor(`node ${replica.port} to become primary`, async () =>
      /role:master/.test(await replica.cli('INFO', 'replication')),
    );
    await this.waitHealthy('the cluster after the failover');
    return { from: primary.port, to: replica.port };
  }

  /** The key's primary crashes (SIGKILL); its replica is elected after the node timeout. */
  async killPrimary(key: string): Promise<{ from: number; to: number }> {
    const { primary, replica } = await this.ownerOf(key);
    await primary.kill();
    await this.waitFor(
      `node ${replica.port} to be elected primary`,
      async () => /role:master/.test(await replica.cli('INFO', 'replication')),
      30_000,
    );
    await this.waitHealthy('the cluster after the primary crashed');
    return { from: primary.port, to: replica.port };
  }

  /** Every running node says the cluster is ok and every slot is served. */
  async waitHealthy(what: string, timeoutMs = 30_000): Promise<void> {
    await this.waitFor(
      what,
      async () => {
        const infos = await Promise.all(this.nodes.filter((n) => n.running).map((n) => n.cli('CLUSTER', 'INFO')));
        return infos.every((i) => /cluster_state:ok/.test(i) && /cluster_slots_ok:16384/.test(i));
      },
      timeoutMs,
    );
  }

  private async waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await check().catch(() => false)) return;
      if (Date.now() > deadline) throw new Error(`Redis Cluster: no ${what} within ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.destroy().catch(() => undefined)));
  }
}
