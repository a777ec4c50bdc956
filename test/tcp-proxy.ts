// A TCP proxy a test puts between the apps and a service (PostgreSQL, Redis, S3) to simulate an
// outage without touching the service:
// - `cut()` destroys every connection and refuses new ones (the port stops listening:
//   ECONNREFUSED), `restore()` listens on the same port again: a clean refusal.
// - `freeze()` is a partition instead: connections stay open but nothing passes either way and
//   new connections get no answer (no RST, no FIN: what a dropped link looks like to both ends);
//   `thaw()` lets everything held through, in order, as TCP does once a link is back.
// By default it binds 127.0.0.1; `bind` puts it on another local address (e.g. a test bridge).
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxyOptions {
  /** Local address to listen on (default 127.0.0.1). */
  bind?: string;
  /** Port to listen on (default: any free one, kept across cut/restore). */
  port?: number;
}

interface Pair {
  client: Socket;
  upstream?: Socket;
  /** Bytes read while frozen, written on thaw (in order, per direction). */
  held: { to: 'client' | 'upstream'; data: Buffer }[];
}

export class TcpProxy {
  port: number;
  readonly host: string;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly pairs = new Set<Pair>();
  private frozen = false;
  /** Connections accepted so far (both sides counted once). */
  accepted = 0;

  constructor(
    private readonly upstream: { host: string; port: number },
    options: TcpProxyOptions = {},
  ) {
    this.host = options.bind ?? '127.0.0.1';
    this.port = options.port ?? 0;
  }

  async start(): Promise<this> {
    await this.listen();
    return this;
  }

  get listening(): boolean {
    return !!this.server?.listening;
  }

  get isFrozen(): boolean {
    return this.frozen;
  }

  /** Every connection destroyed; new ones refused until restore(). */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.pairs.clear();
    await closed;
  }

  async restore(): Promise<void> {
    if (!this.server) await this.listen();
  }

  /** A partition: nothing passes, nothing is closed or refused. */
  freeze(): void {
    this.frozen = true;
    for (const s of this.sockets) s.pause();
  }

  /** The partition heals: what was held goes through, new connections reach the service. */
  thaw(): void {
    if (!this.frozen) return;
    this.frozen = false;
    for (const pair of [...this.pairs]) {
      if (!pair.upstream) this.connectUpstream(pair);
      for (const h of pair.held.splice(0)) (h.to === 'client' ? pair.client : pair.upstream!).write(h.data);
    }
    for (const s of this.sockets) s.resume();
  }

  async stop(): Promise<void> {
    this.frozen = false;
    await this.cut();
  }

  private drop(pair: Pair): void {
    pair.client.destroy();
    pair.upstream?.destroy();
    this.sockets.delete(pair.client);
    if (pair.upstream) this.sockets.delete(pair.upstream);
    this.pairs.delete(pair);
  }

  /** Forwards `from` to the pair's other side with backpressure; holds bytes while frozen. */
  private forward(pair: Pair, from: Socket, to: 'client' | 'upstream'): void {
    from.on('data', (data: Buffer) => {
      const target = to === 'client' ? pair.client : pair.upstream;
      if (this.frozen || !target) {
        pair.held.push({ to, data });
        from.pause();
        return;
      }
      if (!target.write(data)) {
        from.pause();
        target.once('drain', () => {
          if (!this.frozen) from.resume();
        });
      }
    });
  }

  private connectUpstream(pair: Pair): void {
    const upstream = connect(this.upstream.port, this.upstream.host);
    pair.upstream = upstream;
    this.sockets.add(upstream);
    upstream.on('error', () => this.drop(pair)).on('close', () => this.drop(pair));
    this.forward(pair, upstream, 'client');
  }

  private async listen(): Promise<void> {
    const server = createServer((client) => {
      this.accepted++;
      const pair: Pair = { client, held: [] };
      this.pairs.add(pair);
      this.sockets.add(client);
      client.on('error', () => this.drop(pair)).on('close', () => this.drop(pair));
      this.forward(pair, client, 'upstream');
      // While frozen a new connection is held: the service is not contacted until thaw().
      if (this.frozen) client.pause();
      else this.connectUpstream(pair);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }
}
