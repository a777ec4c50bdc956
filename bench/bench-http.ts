// HTTP requests of the suite, with bodies in memory or streamed from disk, and a bounded pool to send them.
import { createReadStream } from 'node:fs';
import http from 'node:http';
import pLimit from 'p-limit';

export interface Answer {
  status: number;
  text: string;
  headers: http.IncomingHttpHeaders;
}

function request(
  url: string,
  method: string,
  headers: Record<string, string>,
  agent: http.Agent | undefined,
  write: (req: http.ClientRequest) => void,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8'), headers: res.headers }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    write(req);
  });
}

/** One HTTP request with a small in-memory body (JSON, a 2 KiB image) or none. */
export function send(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
  agent?: http.Agent,
): Promise<Answer> {
  const h = body ? { ...headers, 'Content-Length': String(body.length) } : headers;
  return request(url, method, h, agent, (req) => req.end(body));
}

/** One HTTP request whose body is bytes [start, end] of a file, streamed from disk. */
export function sendFile(
  url: string,
  method: string,
  headers: Record<string, string>,
  file: string,
  start: number,
  end: number,
  agent?: http.Agent,
): Promise<Answer> {
  return request(url, method, { ...headers, 'Content-Length': String(end - start + 1) }, agent, (req) => {
    const body = createReadStream(file, { start, end, highWaterMark: 256 * 1024 });
    body.on('error', (err) => req.destroy(err));
    body.pipe(req);
  });
}

export function sendJson(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: unknown,
  agent?: http.Agent,
): Promise<Answer> {
  return send(
    url,
    method,
    { ...headers, 'Content-Type': 'application/json' },
    Buffer.from(JSON.stringify(body)),
    agent,
  );
}

export function expectStatus(answer: Answer, ok: number[], what: string): Answer {
  if (!ok.includes(answer.status)) throw new Error(`${what}: HTTP ${answer.status}: ${answer.text.slice(0, 500)}`);
  return answer;
}

/** Runs `work` over items with at most `n` in flight (p-limit). */
export async function pool<T>(items: T[], n: number, work: (item: T, i: number) => Promise<void>): Promise<void> {
  const limit = pLimit(n);
  await Promise.all(items.map((item, i) => limit(() => work(item, i))));
}
