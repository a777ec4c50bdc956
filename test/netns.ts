// Test hosts on a test network: each host is a Linux network namespace with loopback up and one
// veth link to a bridge that the test makes in the root namespace. Addresses come from the
// 198.18.0.0/15 benchmarking range and exist only on these interfaces: the bridge is .1 of a /24,
// hosts are .2, .3, ... Nothing is routed beyond the bridge, so a process on a test host reaches
// only the other test hosts and what the test serves on the bridge address (e.g. TcpProxy with
// `bind: network.bridgeAddress`).
//
// `cut(host)` takes the host's link down at the bridge end: its packets are dropped (no RST, no
// FIN, no ICMP), what a failed switch port or a partition between routed networks looks like;
// `heal(host)` brings it back. Every host and the bridge know each other's MAC address from
// permanent neighbour entries, so a cut never turns into a quick ARP failure (EHOSTUNREACH): a
// connection attempt across a cut waits, as across a real partition.
// Needs root (CAP_NET_ADMIN) and iproute2. `TestNetwork.create` fails with one line saying so
// where namespaces cannot be made; `destroy()` removes every namespace, veth and the bridge.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function ip(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run('ip', args, { timeout: 10_000 });
    return stdout;
  } catch (err: unknown) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}

export interface TestHost {
  /** The test's name for the host (e.g. "gateway"). */
  name: string;
  /** Network namespace name. */
  netns: string;
  /** The host's only address (besides loopback). */
  address: string;
  /** Bridge-side end of the host's veth pair (in the root namespace): taking it down cuts the host off. */
  link: string;
  /** Command prefix that runs a program on this host. */
  command: string[];
}

export class TestNetwork {
  readonly hosts = new Map<string, TestHost>();
  private readonly created = { bridge: false, netns: [] as string[], links: [] as string[] };

  private constructor(
    /** kiln-<random>: the prefix of every namespace and interface this network made. */
    readonly id: string,
    readonly bridge: string,
    readonly subnet: number,
  ) {}

  /** 198.18.<subnet>.1: the root namespace's address on the bridge (where the test serves proxies). */
  get bridgeAddress(): string {
    return `198.18.${this.subnet}.1`;
  }

  host(name: string): TestHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no test host "${name}"`);
    return h;
  }

  /**
   * A bridge and one namespace per host name, each with loopback up and an address on the bridge.
   * Throws one clear line when this machine cannot make namespaces (not root, no iproute2, no netns support).
   */
  static async create(hostNames: string[]): Promise<TestNetwork> {
    await TestNetwork.assertSupported();
    const tag = randomBytes(3).toString('hex');
    const subnet = await freeSubnet();
    const net = new TestNetwork(`kiln-${tag}`, `kiln-${tag}`, subnet);
    try {
      const bridgeMac = mac();
      await ip('link', 'add', 'name', net.bridge, 'address', bridgeMac, 'type', 'bridge');
      net.created.bridge = true;
      await ip('addr', 'add', `${net.bridgeAddress}/24`, 'dev', net.bridge);
      await ip('link', 'set', net.bridge, 'up');
      for (const [i, name] of hostNames.entries()) {
        const netns = `kiln-${tag}-${name}`;
        const link = `kiln-${tag}-${i}`; // interface names: at most 15 characters
        await ip('netns', 'add', netns);
        net.created.netns.push(netns);
        const hostMac = mac();
        await ip('link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'address', hostMac, 'netns', netns);
        net.created.links.push(link);
        await ip('link', 'set', link, 'master', net.bridge);
        await ip('link', 'set', link, 'up');
        const address = `198.18.${subnet}.${i + 2}`;
        await ip('-n', netns, 'link', 'set', 'lo', 'up');
        await ip('-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
        await ip('-n', netns, 'link', 'set', 'eth0', 'up');
        await ip(
          '-n',
          netns,
          'neigh',
          'replace',
          net.bridgeAddress,
          'lladdr',
          bridgeMac,
          'dev',
          'eth0',
          'nud',
          'permanent',
        );
        await ip('neigh', 'replace', address, 'lladdr', hostMac, 'dev', net.bridge, 'nud', 'permanent');
        net.hosts.set(name, { name, netns, address, link, command: ['ip', 'netns', 'exec', netns] });
      }
    } catch (err: unknown) {
      await net.destroy();
      throw err;
    }
    return net;
  }

  /** One line naming what is missing, thrown (never a silent skip). */
  static async assertSupported(): Promise<void> {
    const why = (detail: string) =>
      new Error(`network namespaces cannot be made here (${detail}); this test needs root and iproute2, as CI has`);
    if (process.getuid?.() !== 0) throw why(`running as uid ${process.getuid?.()}, not root`);
    const probe = `kiln-probe-${randomBytes(3).toString('hex')}`;
    try {
      await ip('netns', 'add', probe);
    } catch (err: unknown) {
      throw why((err as Error).message);
    }
    await ip('netns', 'del', probe).catch(() => undefined);
  }

  /** The host's link goes down at the bridge: its packets are dropped both ways. */
  async cut(name: string): Promise<void> {
    await ip('link', 'set', this.host(name).link, 'down');
  }

  async heal(name: string): Promise<void> {
    await ip('link', 'set', this.host(name).link, 'up');
  }

  /** Whether the host's link is up (read back from the kernel). */
  async isUp(name: string): Promise<boolean> {
    return /state UP/.test(await ip('link', 'show', this.host(name).link));
  }

  /** Removes every veth pair, namespace and the bridge. Safe to call twice. */
  async destroy(): Promise<void> {
    const errors: string[] = [];
    // Deleting one end removes the pair at once (a namespace's own links go away asynchronously).
    for (const link of this.created.links.splice(0)) {
      await ip('link', 'del', link).catch((err: Error) => errors.push(err.message));
    }
    for (const netns of this.created.netns.splice(0)) {
      await ip('netns', 'del', netns).catch((err: Error) => errors.push(err.message));
    }
    if (this.created.bridge) {
      this.created.bridge = false;
      await ip('link', 'del', this.bridge).catch((err: Error) => errors.push(err.message));
    }
    if (errors.length) throw new Error(`test network ${this.id} not fully removed: ${errors.join('; ')}`);
  }

  /** Names of this network's interfaces and namespaces still present (for a cleanup assertion). */
  async leftovers(): Promise<string[]> {
    const links = (await ip('-o', 'link', 'show'))
      .split('\n')
      .map((l) => /^\d+:\s+([^:@]+)/.exec(l)?.[1])
      .filter((n): n is string => !!n);
    const namespaces = (await ip('netns', 'list')).split('\n').map((l) => l.split(' ')[0]);
    return [...links, ...namespaces].filter((n) => n.startsWith(this.id));
  }
}

/** A random locally administered unicast MAC address. */
function mac(): string {
  const b = randomBytes(6);
  b[0] = (b[0] & 0xfc) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** A 198.18.<n>.0/24 that no local interface uses yet. */
async function freeSubnet(): Promise<number> {
  const used = new Set(
    [...(await ip('-4', '-o', 'addr', 'show')).matchAll(/inet 198\.18\.(\d+)\./g)].map((m) => Number(m[1])),
  );
  for (let tries = 0; tries < 50; tries++) {
    const n = 1 + Math.floor(Math.random() * 254);
    if (!used.has(n)) return n;
  }
  throw new Error('no free 198.18.x.0/24 for a test network');
}
