// followJob against a stand-in for the gateway's events and job endpoints (in-process HTTP server).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError } from '../api/api-error';
import { KilnClient } from '../api/kiln-client';
import { followJob } from './follow-job';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const job = (code: string, progress: number) => ({
  id: 'j1',
  status: { code, info: '' },
  errors: [],
  progress,
  input: [],
  conversion: [],
  output: [],
});

describe('followJob', () => {
  let server: Server;
  let url: string;
  let events: Handler;
  let polls: string[];

  beforeEach(async () => {
    polls = [];
    server = createServer((req, res) => {
      if (req.url?.endsWith('/events')) return events(req, res);
      const next = polls.length < 2 ? job('processing', 50) : job('completed', 100);
      polls.push(next.status.code);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(next));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const client = () => new KilnClient({ url, retry: { attempts: 2, baseMs: 1, maxMs: 1, maxRetryAfterMs: 1 } });
  const sse = (res: ServerResponse) => res.writeHead(200, { 'Content-Type': 'text/event-stream' });

  it('reports each status event and answers the final job from the stream', async () => {
    events = (_req, res) => {
      sse(res);
      res.write('event: status\ndata: {"job_id":"j1","status":"queued","progress":0}\n\n: keep-alive\n\n');
      res.write(
        'event: status\ndata: {"job_id":"j1","status":"processing","progress":40}\n\nevent: status\ndata: {"job_id":"j1","status":"completed","progress":100}\n\n',
      );
      res.end(`event: job\ndata: ${JSON.stringify(job('completed', 100))}\n\n`);
    };
    const seen: string[] = [];
    const final = await followJob(client(), 'j1', { onStatus: (s, p) => seen.push(`${s} ${p}`) });
    expect(final.status.code).toBe('completed');
    expect(seen).toEqual(['queued 0', 'processing 40', 'completed 100']);
    expect(polls).toEqual([]);
  });

  it('polls the job when the stream drops before the end', async () => {
    events = (_req, res) => {
      sse(res);
      res.write('event: status\ndata: {"job_id":"j1","status":"processing","progress":10}\n\n');
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const fallbacks: string[] = [];
    const final = await followJob(client(), 'j1', { pollMs: 5, onFallback: (r) => fallbacks.push(r) });
    expect(final.status.code).toBe('completed');
    expect(fallbacks).toHaveLength(1);
    expect(polls).toEqual(['processing', 'processing', 'completed']);
  });

  it('polls when the stream goes silent (not even keep-alives)', async () => {
    events = (_req, res) => {
      sse(res);
      res.write(': hello\n\n');
    };
    const fallbacks: string[] = [];
    const final = await followJob(client(), 'j1', { pollMs: 5, idleMs: 100, onFallback: (r) => fallbacks.push(r) });
    expect(final.status.code).toBe('completed');
    expect(fallbacks[0]).toMatch(/no event for 100 ms/);
  });

  it('an unknown job is an error, not a reason to poll', async () => {
    events = (_req, res) =>
      res
        .writeHead(404, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ error: { code: 'not_found', message: 'No such job.' } }));
    await expect(followJob(client(), 'j1', { pollMs: 5 })).rejects.toBeInstanceOf(ApiError);
    expect(polls).toEqual([]);
  });
});
