// A TCP proxy a test puts between the apps and a service (PostgreSQL) to simulate an outage without
// touching the service: `cut()` destroys every connection and refuses new ones (the port stops
// listening: ECONNREFUSED), `restore()` listens on the same port again.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './stack';

export class TcpProxy {
  port = 0;
  readonly host = '127.0.0.1';
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  /** Connections accepted so far (both sides counted once). */
  accepted = 0;

  constructor(private readonly upstream: { host: string; port: number }) {}

  async start(): Promise<this> {
    this.port ||= await freePort();
    await this.listen();
    return this;
  }

  get listening(): boolean {
    return !!this.server?.listening;
  }

  /** Every connection destroyed; new ones refused until restore(). */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  async restore(): Promise<void> {
    if (!this.server) await this.listen();
  }

  async stop(): Promise<void> {
    await this.cut();
  }

  private async listen(): Promise<void> {
    const server = createServer((client) => {
      this.accepted++;
      const upstream = connect(this.upstream.port, this.upstream.host);
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }
}
