// Raw HTTP for e2e tests: a request whose body the test writes piece by piece, and a proxy that
// spreads requests over several gateways.
import http from 'node:http';

/** A raw request whose body the test writes piece by piece (and may cut off). */
export function openRequest(url: string, method: string, headers: Record<string, string | number>) {
  const req = http.request(url, { method, headers });
  const answer = new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
  answer.catch(() => undefined);
  return { req, answer };
}

/** Forwards each request to the next gateway in turn (no stickiness), and remembers who got what. */
export class RoundRobinProxy {
  readonly seen: { method: string; target: string }[] = [];
  private server?: http.Server;
  private next = 0;
  url = '';

  constructor(private readonly targets: string[]) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const target = this.targets[this.next++ % this.targets.length];
      this.seen.push({ method: req.method!, target });
      const u = new URL(target);
      const upstream = http.request(
        { host: u.hostname, port: u.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode!, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      // The client going away mid-body reaches the gateway as the same break-off.
      req.on('close', () => {
        if (!req.complete) upstream.destroy();
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
