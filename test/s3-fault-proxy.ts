// An HTTP reverse proxy a test puts in front of the S3 server (radosgw) to make it fail on demand,
// without touching the server: the apps' S3_ENDPOINT is the proxy's URL. Each request is passed
// through (bodies streamed both ways with backpressure, never buffered, headers unchanged so the
// signatures still hold), or, while a fault rule matches it:
// - `unavailable`: answered at once by the proxy with 503 and an S3 error document
//   (<Code>ServiceUnavailable</Code>) and Retry-After, as an overloaded S3 answers; the request's
//   body is read and thrown away, the server never sees the request;
// - `drop`: the connection is destroyed without an answer (a load balancer losing its backend).
// Rules can be limited to some methods and paths (e.g. PUT of part uploads, POST completions) and
// to a number of requests. `requests` records every request with what the proxy did with it.
import http from 'node:http';
import type { Socket } from 'node:net';

export interface S3Request {
  method: string;
  /** The object key (path without the bucket), decoded. */
  key: string;
  /** The full path as sent, without the query. */
  path: string;
  query: URLSearchParams;
}

export type FaultAction = 'unavailable' | 'drop';

export interface FaultRule {
  action: FaultAction;
  /** Only requests with one of these methods (default: every method). */
  methods?: string[];
  /** Only requests this returns true for (default: every request). */
  match?: (req: S3Request) => boolean;
  /** Only the first `times` matching requests; then the rule is spent (default: until cleared). */
  times?: number;
  /** Retry-After of a 503 answer, in seconds (default 1). */
  retryAfterS?: number;
}

export interface SeenRequest extends S3Request {
  at: number;
  /** What the proxy did: passed through, answered 503, or dropped. */
  outcome: 'pass' | FaultAction;
  /** The status the client got (undefined for a dropped or broken request). */
  status?: number;
}

/** What a request is, as the S3 API names it (for rule matching and logs). */
export const s3Ops = {
  /** UploadPart (or UploadPartCopy): PUT with partNumber and uploadId. */
  uploadPart: (r: S3Request) => r.method === 'PUT' && r.query.has('partNumber') && r.query.has('uploadId'),
  /** CompleteMultipartUpload: POST with uploadId. */
  completeMultipart: (r: S3Request) => r.method === 'POST' && r.query.has('uploadId'),
  /** CreateMultipartUpload: POST with ?uploads. */
  createMultipart: (r: S3Request) => r.method === 'POST' && r.query.has('uploads'),
  /** PutObject (or CopyObject): PUT without a part number. */
  putObject: (r: S3Request) => r.method === 'PUT' && !r.query.has('partNumber'),
};

export class S3FaultProxy {
  readonly requests: SeenRequest[] = [];
  private rules: (FaultRule & { used: number })[] = [];
  private server?: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly upstream: URL;
  url = '';

  /** `upstream`: the S3 server's endpoint, e.g. http://127.0.0.1:7490. */
  constructor(upstream: string) {
    this.upstream = new URL(upstream);
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.agent.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Adds a fault rule (checked in the order added); returns it so that the test can remove it. */
  fail(rule: FaultRule): FaultRule {
    const added = { ...rule, used: 0 };
    this.rules.push(added);
    return added;
  }

  /** Every S3 request answered 503 (optionally only some) until `pass()`. */
  unavailable(only: Omit<FaultRule, 'action'> = {}): FaultRule {
    return this.fail({ action: 'unavailable', ...only });
  }

  /** Every request passes through again (all rules removed). */
  pass(): void {
    this.rules = [];
  }

  /** The requests the proxy answered or dropped itself (optionally only those `filter` keeps). */
  faulted(filter: (r: SeenRequest) => boolean = () => true): SeenRequest[] {
    return this.requests.filter((r) => r.outcome !== 'pass' && filter(r));
  }

  private describe(req: http.IncomingMessage): S3Request {
    const u = new URL(req.url ?? '/', 'http://proxy');
    const [, , ...key] = u.pathname.split('/'); // /<bucket>/<key…> (path-style)
    return {
      method: req.method ?? 'GET',
      path: u.pathname,
      key: decodeURIComponent(key.join('/')),
      query: u.searchParams,
    };
  }

  private ruleFor(r: S3Request): (FaultRule & { used: number }) | undefined {
    return this.rules.find(
      (rule) =>
        (rule.times === undefined || rule.used < rule.times) &&
        (!rule.methods || rule.methods.includes(r.method)) &&
        (!rule.match || rule.match(r)),
    );
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const described = this.describe(req);
    const rule = this.ruleFor(described);
    const seen: SeenRequest = { ...described, at: Date.now(), outcome: rule?.action ?? 'pass' };
    this.requests.push(seen);
    if (rule) rule.used++;
    if (rule?.action === 'drop') {
      req.socket.destroy();
      return;
    }
    if (rule?.action === 'unavailable') {
      const body =
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code>' +
        '<Message>Service is unable to handle request.</Message></Error>';
      seen.status = 503;
      res.writeHead(503, {
        'Content-Type': 'application/xml',
        'Content-Length': Buffer.byteLength(body),
        'Retry-After': String(rule.retryAfterS ?? 1),
        Connection: 'close',
      });
      res.end(body);
      req.resume(); // the body is read and discarded, never kept
      return;
    }
    const upstream = http.request(
      {
        host: this.upstream.hostname,
        port: this.upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers, // Host included: presigned and header signatures name the proxy's host
        agent: this.agent,
      },
      (answer) => {
        seen.status = answer.statusCode;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => res.destroy());
    // The client going away mid-body reaches the server as the same break-off.
    req.on('close', () => {
      if (!req.complete) upstream.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }
}
