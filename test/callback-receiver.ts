// A local HTTP server that receives Kiln callbacks and records them (status answers scriptable).
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface ReceivedCallback {
  at: number;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON of any shape, checked by the assertions
  json: any;
}

export class CallbackReceiver {
  readonly received: ReceivedCallback[] = [];
  /** Answers to give, in order (then 200). A number is a status; 'hang' never answers. */
  script: (number | 'hang')[] = [];
  private server?: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: unknown = null;
        try {
          json = JSON.parse(body);
        } catch {
          /* recorded as text */
        }
        this.received.push({ at: Date.now(), path: req.url ?? '/', headers: req.headers, body, json });
        const answer = this.script.shift() ?? 200;
        if (answer === 'hang') return;
        res.writeHead(answer, { 'Content-Type': 'text/plain' }).end('ok');
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}/hook`;
    return this;
  }

  forJob(jobId: string): ReceivedCallback[] {
    return this.received.filter((r) => r.json?.id === jobId);
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
