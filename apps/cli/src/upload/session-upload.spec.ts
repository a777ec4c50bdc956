// uploadMissing against a stand-in for the gateway's upload-session endpoints (an in-process HTTP
// server that stores chunks in memory and misbehaves on cue): ranges, retries, resume.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { KilnClient } from '../api/kiln-client';
import type { UploadView } from '../api/types';
import { ApiError } from '../api/api-error';
import { missingRanges } from './range-plan';
import type { RateLimiter } from './rate-limiter';
import { uploadMissing } from './session-upload';

const KiB = 1024;

class FakeSessions {
  readonly server: Server;
  stored = new Map<number, Buffer>();
  puts: string[] = [];
  /** Ranges ("start-end") to answer once with 503 + Retry-After: 0. */
  unavailableOnce = new Set<string>();
  /** Ranges whose connection is cut once after a few bytes. */
  cutOnce = new Set<string>();
  rejectWith?: { status: number; body: unknown };
  url = '';

  constructor(
    readonly size: number,
    readonly limits = { min: 64 * KiB, max: 1024 * KiB },
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  received(): [number, number][] {
    return [...this.stored.entries()].sort((a, b) => a[0] - b[0]).map(([s, b]) => [s, s + b.length - 1]);
  }

  view(): UploadView {
    const bytes = [...this.stored.values()].reduce((n, b) => n + b.length, 0);
    const gaps = missingRanges(this.size, this.received());
    return {
      id: 'u1',
      location: `${this.url}/v1/uploads/u1`,
      filename: 'f',
      size: this.size,
      job_id: null,
      input_id: null,
      content_type: null,
      checksum_sha256: null,
      created_at: new Date(0).toISOString(),
      chunk_size_min: this.limits.min,
      chunk_size_max: this.limits.max,
      received: this.received(),
      received_bytes: bytes,
      offset: gaps[0]?.start ?? this.size,
      status: bytes === this.size ? 'complete' : 'uploading',
      assembled: false,
      expires_at: 0,
    };
  }

  content(): Buffer {
    return Buffer.concat([...this.stored.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => b));
  }

  private async handle(
    req: import('node:http').IncomingMessage,
    res: import('node:http').ServerResponse,
  ): Promise<void> {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET') return send(200, this.view());
    if (req.method === 'POST') return send(200, this.view());
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(req.headers['content-range'] ?? '');
    if (!m) return send(416, { error: { code: 'range_not_satisfiable', message: 'bad Content-Range' } });
    const [start, end] = [Number(m[1]), Number(m[2])];
    const key = `${start}-${end}`;
    this.puts.push(key);
    if (this.rejectWith) return send(this.rejectWith.status, this.rejectWith.body);
    if (this.unavailableOnce.delete(key)) {
      req.resume();
      return send(503, { error: { code: 'unavailable', message: 'try later' } }, { 'Retry-After': '0' });
    }
    const pieces: Buffer[] = [];
    let got = 0;
    for await (const piece of req) {
      pieces.push(piece as Buffer);
      got += (piece as Buffer).length;
      if (this.cutOnce.has(key) && got > 1000) {
        this.cutOnce.delete(key);
        req.socket.destroy();
        return;
      }
    }
    const body = Buffer.concat(pieces);
    if (body.length !== end - start + 1 || Number(req.headers['content-length']) !== body.length)
      return send(400, { error: { code: 'invalid_input', message: 'length' } });
    if (this.received().some(([s, e]) => s <= end && e >= start && !(s === start && e === end)))
      return send(409, { error: { code: 'conflict', message: 'partial overlap' } });
    this.stored.set(start, body);
    const v = this.view();
    send(v.status === 'complete' ? 201 : 202, v);
  }
}

describe('uploadMissing (upload session chunks)', () => {
  let dir: string;
  let file: string;
  let bytes: Buffer;
  let fake: FakeSessions;
  const SIZE = 1000 * KiB + 123;
  const retry = { attempts: 4, baseMs: 1, maxMs: 5, maxRetryAfterMs: 10 };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kiln-cli-upload-'));
    file = path.join(dir, 'data.bin');
    bytes = randomBytes(SIZE);
    await writeFile(file, bytes);
    fake = new FakeSessions(SIZE);
    await fake.start();
  });

  afterEach(async () => {
    await fake.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const client = () => new KilnClient({ url: fake.url, retry });

  it('sends the file in chunk-size pieces, a few at once, and answers the complete session', async () => {
    let counted = 0;
    const done = await uploadMissing(fake.view(), {
      api: client(),
      path: file,
      chunkSize: 100 * KiB,
      parallel: 3,
      retry,
      onBytes: (n) => (counted += n),
    });
    expect(done.status).toBe('complete');
    expect(fake.content().equals(bytes)).toBe(true);
    expect(fake.puts).toHaveLength(11);
    expect(counted).toBe(SIZE);
  });

  /**
   * An in-memory API that answers each chunk one event-loop turn later: every chunk the pool lets
   * start meanwhile is seen in flight together. `refuse` picks chunks to answer with an error.
   */
  function memoryApi(refuse: (range: { start: number }) => boolean = () => false) {
    const seen = { calls: 0, open: 0, mostOpen: 0, stored: 0 };
    const api = {
      putChunk: (
        _id: string,
        range: { start: number; end: number },
        _total: number,
        body: Readable,
      ): Promise<UploadView> => {
        body.destroy();
        seen.calls++;
        seen.mostOpen = Math.max(seen.mostOpen, ++seen.open);
        return new Promise((resolve, reject) =>
          setImmediate(() => {
            seen.open--;
            if (refuse(range)) return reject(new Error(`chunk at ${range.start} refused`));
            seen.stored += range.end - range.start + 1;
            resolve({ ...fake.view(), status: seen.stored === SIZE ? 'complete' : 'uploading' });
          }),
        );
      },
    } as unknown as KilnClient;
    return { api, seen };
  }

  it('keeps --parallel chunks in flight at once, never more', async () => {
    const { api, seen } = memoryApi();
    const done = await uploadMissing(fake.view(), { api, path: file, chunkSize: 100 * KiB, parallel: 3, retry });
    expect(done.status).toBe('complete');
    expect(seen.stored).toBe(SIZE);
    expect(seen.mostOpen).toBe(3);
  });

  it('starts no chunk after one fails, and throws that failure once the ones in flight have settled', async () => {
    const { api, seen } = memoryApi((range) => range.start === 0);
    await expect(
      uploadMissing(fake.view(), { api, path: file, chunkSize: 100 * KiB, parallel: 3, retry }),
    ).rejects.toThrow('chunk at 0 refused');
    expect(seen.calls).toBe(3);
    expect(seen.open).toBe(0);
  });

  it('sends only the ranges the session is missing (resume)', async () => {
    await uploadMissing(fake.view(), { api: client(), path: file, chunkSize: 100 * KiB, parallel: 2, retry });
    const firstRun = [...fake.puts];
    // forget three chunks, as if they had never arrived
    const dropped = [firstRun[1], firstRun[4], firstRun[10]];
    for (const key of dropped) fake.stored.delete(Number(key.split('-')[0]));
    fake.puts = [];
    let counted = 0;
    const done = await uploadMissing(fake.view(), {
      api: client(),
      path: file,
      chunkSize: 100 * KiB,
      parallel: 2,
      retry,
      onBytes: (n) => (counted += n),
    });
    expect(done.status).toBe('complete');
    expect([...fake.puts].sort()).toEqual([...dropped].sort());
    expect(counted).toBe(dropped.reduce((n, k) => n + Number(k.split('-')[1]) - Number(k.split('-')[0]) + 1, 0));
    expect(fake.content().equals(bytes)).toBe(true);
  });

  it('retries a chunk after a 503 (Retry-After) and after a cut connection; progress takes back the lost bytes', async () => {
    fake.unavailableOnce.add(`0-${100 * KiB - 1}`);
    fake.cutOnce.add(`${300 * KiB}-${400 * KiB - 1}`);
    const retried: string[] = [];
    let counted = 0;
    let most = 0;
    const done = await uploadMissing(fake.view(), {
      api: client(),
      path: file,
      chunkSize: 100 * KiB,
      parallel: 2,
      retry,
      onBytes: (n) => {
        counted += n;
        most = Math.max(most, counted);
      },
      onRetry: (range) => retried.push(`${range.start}-${range.end}`),
    });
    expect(done.status).toBe('complete');
    expect(retried.sort()).toEqual([`0-${100 * KiB - 1}`, `${300 * KiB}-${400 * KiB - 1}`]);
    expect(counted).toBe(SIZE);
    expect(most).toBeLessThanOrEqual(SIZE);
    expect(fake.content().equals(bytes)).toBe(true);
  });

  it('a try that fails while its next piece is still being read counts that piece never (progress stays within the total)', async () => {
    // The first try of the first chunk fails after its first 64 KiB piece, while the body's second
    // piece waits in the rate limiter; that piece is let through only once the failure has been
    // handled (onRetry). This is the order that made progress count a piece twice.
    const firstRange = { start: 0, end: 100 * KiB - 1 };
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let secondPieceWaiting!: () => void;
    const waiting = new Promise<void>((r) => (secondPieceWaiting = r));
    let takes = 0;
    const limiter = {
      take: async () => {
        if (++takes !== 2) return;
        secondPieceWaiting();
        await gate;
      },
    } as unknown as RateLimiter;
    let tries = 0;
    const stored = new Set<number>();
    const api = {
      putChunk: async (_id: string, range: { start: number; end: number }, _total: number, body: Readable) => {
        if (range.start === firstRange.start && ++tries === 1) {
          await new Promise<void>((resolve) => body.once('data', () => resolve()));
          await waiting;
          throw new ApiError(503, 'unavailable', 'try later', [], undefined, 0);
        }
        for await (const _piece of body) {
          /* drained: every byte is read, so every byte is counted */
        }
        stored.add(range.start);
        return { ...fake.view(), status: stored.size === 11 ? 'complete' : 'uploading' };
      },
    } as unknown as KilnClient;
    let counted = 0;
    let most = 0;
    const done = await uploadMissing(fake.view(), {
      api,
      path: file,
      chunkSize: 100 * KiB,
      parallel: 1,
      retry,
      limiter,
      onBytes: (n) => {
        counted += n;
        most = Math.max(most, counted);
      },
      onRetry: () => release(),
    });
    expect(done.status).toBe('complete');
    expect(tries).toBe(2);
    expect(counted).toBe(SIZE);
    expect(most).toBeLessThanOrEqual(SIZE);
  });

  it("stops at the first refused chunk with the API's error", async () => {
    fake.rejectWith = {
      status: 409,
      body: {
        error: { code: 'job_locked', message: 'The job is processing and accepts no more inputs or conversions.' },
      },
    };
    await expect(
      uploadMissing(fake.view(), { api: client(), path: file, chunkSize: 100 * KiB, parallel: 2, retry }),
    ).rejects.toThrow('The job is processing');
    expect(fake.puts.length).toBeLessThanOrEqual(2); // the rest was not started
  });
});
