// A receiver of Kiln's callbacks: one waiter per job id, the arrival timed on both clocks.
import http from 'node:http';
import { nowMs } from './run-environment';

export interface Arrival {
  /** performance clock (nowMs) when the body was complete */
  at: number;
  /** wall clock (epoch ms) at the same moment, to line up with BullMQ's timestamps */
  epochMs: number;
  headers: http.IncomingHttpHeaders;
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON of any shape, checked by the assertions
  json: any;
}

/** Receives Kiln's callbacks and resolves a waiter per job id when its callback arrives. */
export class CallbackReceiver {
  private server?: http.Server;
  private readonly arrived = new Map<string, Arrival>();
  private readonly waiters = new Map<string, (a: Arrival) => void>();
  url = '';

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const at = nowMs();
        const epochMs = Date.now();
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
        let json: { id?: string } | null = null;
        try {
          json = JSON.parse(Buffer.concat(parts).toString('utf8')) as { id?: string };
        } catch {
          return;
        }
        const id = json?.id;
        if (!id || this.arrived.has(id)) return; // a retry of a delivered callback
        const arrival = { at, epochMs, headers: req.headers, json };
        this.arrived.set(id, arrival);
        this.waiters.get(id)?.(arrival);
        this.waiters.delete(id);
      });
    });
    this.server.keepAliveTimeout = 65_000;
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}/hook`;
    return this;
  }

  /** Resolves when the callback of `jobId` has arrived (at once if it already has). */
  waitFor(jobId: string, timeoutMs = 600_000): Promise<Arrival> {
    const done = this.arrived.get(jobId);
    if (done) return Promise.resolve(done);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(jobId);
        reject(new Error(`no callback for job ${jobId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(jobId, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
    });
  }

  forget(jobId: string): void {
    this.arrived.delete(jobId);
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
