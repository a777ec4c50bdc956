// The CLI's client over @kiln/client against an in-process HTTP server: the typed calls keep the
// CLI's retry policy (Retry-After, idempotency), its ApiError / NetworkError and the API key header.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError, NetworkError } from './api-error';
import { KilnClient } from './kiln-client';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

const job = { id: 'j1', status: { code: 'completed', info: '' }, errors: [], input: [], conversion: [], output: [] };
const retry = { attempts: 3, baseMs: 1, maxMs: 1, maxRetryAfterMs: 50 };

describe('KilnClient (typed calls)', () => {
  let server: Server;
  let url: string;
  let handler: Handler;
  let seen: { method: string; url: string; key?: string; agent?: string; body: string }[];

  beforeEach(async () => {
    seen = [];
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (b: Buffer) => (body += b.toString()));
      req.on('end', () => {
        seen.push({
          method: req.method!,
          url: req.url!,
          key: req.headers['x-api-key'] as string | undefined,
          agent: req.headers['user-agent'],
          body,
        });
        handler(req, res, body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
  const client = (onRetry?: (what: string) => void) =>
    new KilnClient({ url, apiKey: 'k_1', retry, userAgent: 'kiln-cli/test', onRetry: (what) => onRetry?.(what) });

  it('retries a 503 after its Retry-After and answers the job, with the key and user agent on each try', async () => {
    handler = (_req, res) =>
      seen.length === 1
        ? send(res, 503, { error: { code: 'unavailable', message: 'later' } }, { 'Retry-After': '0' })
        : send(res, 200, job);
    const retried: string[] = [];
    expect(await client((w) => retried.push(w)).getJob('j1')).toEqual(job);
    expect(seen.map((s) => [s.method, s.url, s.key, s.agent])).toEqual([
      ['GET', '/v1/jobs/j1', 'k_1', 'kiln-cli/test'],
      ['GET', '/v1/jobs/j1', 'k_1', 'kiln-cli/test'],
    ]);
    expect(retried).toEqual(['GET /v1/jobs/j1']);
  });

  it('does not retry a POST that answered 500, and gives the error JSON as ApiError', async () => {
    handler = (_req, res) =>
      send(res, 500, { error: { code: 'internal', message: 'a bug', request_id: 'req-1' } }, { 'X-Request-Id': 'x' });
    const err = await client()
      .createJob({ process: false, input: [], conversion: [{ target: 'mp3' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 500, code: 'internal', message: 'a bug', requestId: 'req-1' });
    expect(seen).toHaveLength(1);
    expect(JSON.parse(seen[0].body)).toEqual({ process: false, input: [], conversion: [{ target: 'mp3' }] });
  });

  it('keeps field details and Retry-After of a refusal, and a 400 is not retried', async () => {
    handler = (_req, res) =>
      send(res, 400, {
        error: { code: 'invalid_input', message: 'bad', details: [{ field: 'status', message: 'unknown status' }] },
      });
    const err = await client()
      .listJobs({ status: 'queued', limit: 5 })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, code: 'invalid_input', details: [{ field: 'status' }] });
    expect(seen.map((s) => s.url)).toEqual(['/v1/jobs?status=queued&limit=5']);

    handler = (_req, res) =>
      send(res, 429, { error: { code: 'rate_limited', message: 'slow down' } }, { 'Retry-After': '7' });
    const limited = await new KilnClient({ url, retry: { ...retry, attempts: 1 } }).formats().catch((e: unknown) => e);
    expect(limited).toMatchObject({ status: 429, code: 'rate_limited', retryAfterMs: 7000 });
  });

  it('a success whose body is not JSON is an ApiError naming the call; a closed port a NetworkError', async () => {
    handler = (_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>proxy</html>');
    const err = await client()
      .outputs('j1')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 200, code: 'invalid_answer' });
    expect((err as Error).message).toBe('GET /v1/jobs/j1/output answered 200 with a body that is not JSON');

    const closed = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const down = await new KilnClient({ url: closed, retry: { ...retry, attempts: 1 } })
      .getUpload('u1')
      .catch((e: unknown) => e);
    expect(down).toBeInstanceOf(NetworkError);
    expect(down).toMatchObject({ beforeRequest: true, message: `GET ${closed}/v1/uploads/u1: ECONNREFUSED` });
  });
});
