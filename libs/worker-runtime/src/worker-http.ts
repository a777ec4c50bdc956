import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { metricsAuthorized, type HealthCheck, type KilnMetrics, type Logger } from '@kiln/observability';

export interface WorkerHttpOptions {
  port: number;
  host: string;
  metrics: KilnMetrics;
  /** KILN_METRICS_TOKEN: when set, /metrics needs `Authorization: Bearer <token>`. */
  metricsToken?: string;
  /** The readiness checks (database, Redis, storage, BullMQ workers). */
  ready: () => Promise<HealthCheck[]>;
  log: Logger;
}

export interface WorkerHttp {
  /** The bound port (useful when asked for 0 in tests). */
  port: number;
  close(): Promise<void>;
}

/**
 * A worker's own small HTTP server (node:http, no framework): `GET /metrics` (Prometheus text),
 * `GET /health/live` (the process answers) and `GET /health/ready` (503 unless every check passes).
 */
export async function startWorkerHttp(options: WorkerHttpOptions): Promise<WorkerHttp> {
  const server = createServer((req, res) => {
    void answer(options, req, res).catch((err: unknown) => {
      options.log.error(
        { err: err instanceof Error ? err.message : String(err), url: req.url },
        'worker http request failed',
      );
      if (!res.headersSent) send(res, 500, { error: { code: 'internal', message: 'internal error' } });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return { port, close: () => closeServer(server) };
}

async function answer(options: WorkerHttpOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return send(res, 405, { error: { code: 'method_not_allowed', message: 'only GET' } }, { Allow: 'GET, HEAD' });
  switch (path) {
    case '/metrics': {
      if (!metricsAuthorized(req.headers.authorization, options.metricsToken)) {
        return send(
          res,
          401,
          { error: { code: 'unauthorized', message: 'Send Authorization: Bearer <KILN_METRICS_TOKEN>.' } },
          { 'WWW-Authenticate': 'Bearer' },
        );
      }
      const { contentType, body } = await options.metrics.scrape();
      res
        .writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' })
        .end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    case '/health/live':
      return send(res, 200, { status: 'ok' });
    case '/health/ready': {
      const checks = await options.ready();
      const ok = checks.every((c) => c.ok);
      if (!ok) options.log.warn({ checks: checks.filter((c) => !c.ok) }, 'not ready');
      return send(res, ok ? 200 : 503, { status: ok ? 'ok' : 'unavailable', checks });
    }
    default:
      return send(res, 404, { error: { code: 'not_found', message: `no route ${path}` } });
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-store',
      'Content-Length': Buffer.byteLength(text),
      ...headers,
    })
    .end(text);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
