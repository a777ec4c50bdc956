// Raw HTTP for e2e tests: a request whose body the test writes piece by piece, a proxy that spreads
// requests over several gateways, requests from a chosen source address, and slow raw TCP clients.
import http from 'node:http';
import { connect, type Socket } from 'node:net';

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

/** A request from a chosen loopback source address (each test's "client" is its own address). */
export function requestFrom(
  localAddress: string,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: init.method ?? 'GET', headers: init.headers, localAddress, agent: false },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

/** A raw TCP client: what it received, and when the server closed it. */
export function rawClient(port: number): { socket: Socket; received: () => string; closed: Promise<number> } {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  return { socket, received: () => Buffer.concat(chunks).toString('utf8'), closed };
}

/** Writes `text` one piece at a time every `everyMs` until the socket closes or the text ends. */
export async function trickle(socket: Socket, text: string | Buffer, everyMs: number, pieceBytes = 1): Promise<void> {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length && !socket.destroyed; i += pieceBytes) {
    socket.write(bytes.subarray(i, i + pieceBytes));
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Resolves with the close time, or rejects when the socket is still open after `ms` (the bound under test). */
export function closedWithin(closed: Promise<number>, ms: number, what: string): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    closed,
    new Promise<never>(
      (_, reject) =>
        (timer = setTimeout(() => reject(new Error(`${what}: the connection was still open after ${ms} ms`)), ms)),
    ),
  ]).finally(() => clearTimeout(timer));
}
