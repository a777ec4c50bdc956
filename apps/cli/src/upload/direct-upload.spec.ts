// uploadDirect against a stand-in for the gateway's direct-upload routes and S3 (one in-process HTTP
// server: signs part URLs, stores PUT parts and posted forms in memory, misbehaves on cue). The real
// gateway and radosgw are in e2e/cli-direct.e2e-spec.ts.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import busboy from 'busboy';
import { KilnClient } from '../api/kiln-client';
import type { DirectUploadView } from '../api/types';
import { partRange, StaleDirectSession, uploadDirect } from './direct-upload';
import { multipartFormBody } from './multipart-body';

const KiB = 1024;
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

class FakeDirect {
  readonly server: Server;
  url = '';
  parts = new Map<number, Buffer>();
  /** Part numbers in the order their PUTs arrived (each try). */
  puts: number[] = [];
  /** Every `part_numbers` body of POST …/parts. */
  signs: number[][] = [];
  /** Signatures S3 refuses as expired (403). */
  expired = new Set<string>();
  /** Part numbers whose first signature is already expired. */
  expireFirstOf = new Set<number>();
  /** Part numbers S3 answers 500 once. */
  failOnce = new Set<number>();
  form?: { fields: [string, string][]; file: Buffer; filename: string; contentLength: number };
  apiKeysSeenByS3 = 0;
  completes = 0;
  private sig = 0;

  constructor(
    readonly size: number,
    readonly partSize: number,
    readonly transfer: 'form' | 'multipart',
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  get count(): number {
    return Math.ceil(this.size / this.partSize);
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  content(): Buffer {
    if (this.transfer === 'form') return this.form?.file ?? Buffer.alloc(0);
    return Buffer.concat([...this.parts.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => b));
  }

  complete(): boolean {
    if (this.transfer === 'form') return this.form?.file.length === this.size;
    for (let n = 1; n <= this.count; n++) {
      const r = partRange(n, this.partSize, this.size);
      if (this.parts.get(n)?.length !== r.end - r.start + 1) return false;
    }
    return true;
  }

  view(): DirectUploadView {
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
      chunk_size_min: 0,
      chunk_size_max: 0,
      received: [],
      received_bytes: 0,
      offset: 0,
      status: this.completes > 0 && this.complete() ? 'complete' : 'uploading',
      assembled: false,
      expires_at: 0,
      mode: 'direct',
      transfer: this.transfer,
      ...(this.transfer === 'form'
        ? {
            form_post_url: `${this.url}/s3/form`,
            form_post_params: { key: 'uploads/u1', policy: 'p', 'x-amz-signature': 's', 'Content-Type': 'audio/wav' },
            form_post_expires_at: Math.floor(Date.now() / 1000) + 3600,
          }
        : {
            part_size: this.partSize,
            part_count: this.count,
            parts: [...this.parts.entries()].map(([n, b]) => ({ part_number: n, size: b.length, etag: `"${md5(b)}"` })),
            parts_url: `${this.url}/v1/uploads/u1/parts`,
          }),
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', this.url);
    const read = async () => {
      const pieces: Buffer[] = [];
      for await (const p of req) pieces.push(p as Buffer);
      return Buffer.concat(pieces);
    };
    if (url.pathname.startsWith('/s3/') && req.headers['x-api-key']) this.apiKeysSeenByS3++;
    if (req.method === 'GET' && url.pathname === '/v1/uploads/u1') return send(200, this.view());
    if (req.method === 'POST' && url.pathname === '/v1/uploads/u1/parts') {
      const { part_numbers } = JSON.parse((await read()).toString()) as { part_numbers: number[] };
      this.signs.push(part_numbers);
      return send(200, {
        expires_at: Math.floor(Date.now() / 1000) + 3600,
        parts: part_numbers.map((n) => {
          const sig = `s${++this.sig}`;
          if (this.expireFirstOf.delete(n)) this.expired.add(sig);
          const r = partRange(n, this.partSize, this.size);
          const size = r.end - r.start + 1;
          return {
            part_number: n,
            size,
            url: `${this.url}/s3/part/${n}?sig=${sig}`,
            method: 'PUT',
            headers: { 'content-length': String(size) },
          };
        }),
      });
    }
    if (req.method === 'POST' && url.pathname === '/v1/uploads/u1/complete') {
      this.completes++;
      if (!this.complete()) {
        const missing = [...Array(this.count).keys()].map((i) => i + 1).filter((n) => !this.parts.has(n));
        return send(400, {
          error: {
            code: 'invalid_input',
            message: 'missing parts',
            details: missing.map((n) => ({ field: 'parts', message: `missing part ${n}`, part_number: n })),
          },
        });
      }
      return send(200, this.view());
    }
    const part = /^\/s3\/part\/(\d+)$/.exec(url.pathname);
    if (req.method === 'PUT' && part) {
      const n = Number(part[1]);
      this.puts.push(n);
      const body = await read();
      const xml = (code: string) => `<?xml version="1.0"?><Error><Code>${code}</Code><Message>m</Message></Error>`;
      if (this.expired.has(url.searchParams.get('sig') ?? '')) return send(403, xml('AccessDenied'));
      if (this.failOnce.delete(n)) return send(500, xml('InternalError'));
      const r = partRange(n, this.partSize, this.size);
      if (body.length !== r.end - r.start + 1 || Number(req.headers['content-length']) !== body.length)
        return send(403, xml('SignatureDoesNotMatch'));
      this.parts.set(n, body);
      return send(200, '', { ETag: `"${md5(body)}"` });
    }
    if (req.method === 'POST' && url.pathname === '/s3/form') {
      const contentLength = Number(req.headers['content-length']);
      const fields: [string, string][] = [];
      const files: Buffer[] = [];
      let filename = '';
      await new Promise<void>((resolve, reject) => {
        const bb = busboy({ headers: req.headers });
        bb.on('field', (name, value) => fields.push([name, value]));
        bb.on('file', (_name, stream, info) => {
          filename = info.filename ?? '';
          stream.on('data', (d: Buffer) => files.push(d));
        });
        bb.on('close', resolve);
        bb.on('error', reject);
        req.pipe(bb);
      });
      this.form = { fields, file: Buffer.concat(files), filename, contentLength };
      return send(204, '');
    }
    send(404, { error: { code: 'not_found', message: `${req.method} ${url.pathname}` } });
  }
}

describe('uploadDirect (straight to S3)', () => {
  let dir: string;
  let file: string;
  let bytes: Buffer;
  let fake: FakeDirect;
  const retry = { attempts: 4, baseMs: 1, maxMs: 5, maxRetryAfterMs: 10 };
  const PART = 64 * KiB;
  const SIZE = 10 * PART + 777; // 11 parts, the last short

  async function setup(size: number, transfer: 'form' | 'multipart'): Promise<void> {
    bytes = randomBytes(size);
    await writeFile(file, bytes);
    fake = new FakeDirect(size, PART, transfer);
    await fake.start();
  }

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kiln-cli-direct-'));
    file = path.join(dir, 'data.bin');
  });

  afterEach(async () => {
    await fake?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const client = () => new KilnClient({ url: fake.url, apiKey: 'kiln_secret_key', retry });
  const options = (extra: Partial<Parameters<typeof uploadDirect>[1]> = {}) => ({
    api: client(),
    path: file,
    name: 'data.bin',
    parallel: 3,
    retry,
    ...extra,
  });

  it('PUTs every part once with its exact bytes, signs in batches, completes; S3 never sees the API key', async () => {
    await setup(SIZE, 'multipart');
    let counted = 0;
    let stored = -1;
    const done = await uploadDirect(fake.view(), {
      ...options({ signBatch: 4, onBytes: (n) => (counted += n), onStart: (s) => (stored = s) }),
    });
    expect(done.status).toBe('complete');
    expect(fake.content().equals(bytes)).toBe(true);
    expect(fake.puts.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(fake.signs.flat().sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(fake.signs.every((batch) => batch.length <= 4)).toBe(true);
    expect(fake.signs.length).toBe(3);
    expect(fake.apiKeysSeenByS3).toBe(0);
    expect(fake.completes).toBe(1);
    expect(stored).toBe(0);
    expect(counted).toBe(SIZE);
  });

  it('resumes: sends only the parts S3 lacks or holds with the wrong size or bytes', async () => {
    await setup(SIZE, 'multipart');
    for (const n of [1, 2, 5, 11]) {
      const r = partRange(n, PART, SIZE);
      fake.parts.set(n, bytes.subarray(r.start, r.end + 1));
    }
    fake.parts.set(3, bytes.subarray(0, 100)); // wrong size
    fake.parts.set(
      4,
      Buffer.from(bytes.subarray(partRange(4, PART, SIZE).start, partRange(5, PART, SIZE).start)).fill(7),
    ); // wrong bytes
    let stored = -1;
    let counted = 0;
    const done = await uploadDirect(
      fake.view(),
      options({ onStart: (s) => (stored = s), onBytes: (n) => (counted += n) }),
    );
    expect(done.status).toBe('complete');
    expect(fake.content().equals(bytes)).toBe(true);
    expect(fake.puts.sort((a, b) => a - b)).toEqual([3, 4, 6, 7, 8, 9, 10]);
    expect(stored).toBe(3 * PART + 777);
    expect(counted).toBe(SIZE - stored);
  });

  it('signs a part again when S3 refuses its URL as expired (403), and retries a 500', async () => {
    await setup(SIZE, 'multipart');
    fake.expireFirstOf.add(2);
    fake.expireFirstOf.add(7);
    fake.failOnce.add(9);
    let counted = 0;
    const retried: string[] = [];
    const done = await uploadDirect(
      fake.view(),
      options({ onBytes: (n) => (counted += n), onRetry: (what) => retried.push(what) }),
    );
    expect(done.status).toBe('complete');
    expect(fake.content().equals(bytes)).toBe(true);
    expect(fake.signs.filter((b) => b.length === 1 && (b[0] === 2 || b[0] === 7))).toHaveLength(2);
    expect(fake.puts.filter((n) => n === 2)).toHaveLength(2);
    expect(fake.puts.filter((n) => n === 9)).toHaveLength(2);
    expect(retried).toEqual(['part 9 of data.bin']);
    expect(counted).toBe(SIZE); // refused tries' bytes were taken back
  });

  it('fails with S3 Code when a fresh signature is refused too', async () => {
    await setup(SIZE, 'multipart');
    fake.expired.add('s1');
    fake.expired.add('s12'); // the re-signed URL of part 1 (11 parts signed first)
    await expect(uploadDirect(fake.view(), options())).rejects.toThrow(
      /part 1 of data\.bin: S3 answered 403 AccessDenied/,
    );
  });

  it('posts a small file as the form: fields in order, the file last, an exact Content-Length', async () => {
    const size = 100 * KiB + 3;
    await setup(size, 'form');
    let counted = 0;
    const done = await uploadDirect(fake.view(), options({ onBytes: (n) => (counted += n) }));
    expect(done.status).toBe('complete');
    expect(fake.form!.fields).toEqual([
      ['key', 'uploads/u1'],
      ['policy', 'p'],
      ['x-amz-signature', 's'],
      ['Content-Type', 'audio/wav'],
    ]);
    expect(fake.form!.filename).toBe('data.bin');
    expect(fake.form!.file.equals(bytes)).toBe(true);
    expect(fake.apiKeysSeenByS3).toBe(0);
    expect(counted).toBe(size);
  });

  it.each([
    ['expired', { form_post_expires_at: Math.floor(Date.now() / 1000) - 10 }],
    ['not given again (GET of a form session)', { form_post_url: undefined, form_post_params: undefined }],
  ])(
    'a resumed form session whose form is %s completes if the file got there, else asks for a new session',
    async (_name, change) => {
      await setup(1000, 'form');
      const resumed = { ...fake.view(), ...change };
      await expect(uploadDirect(resumed, options())).rejects.toBeInstanceOf(StaleDirectSession);
      expect(fake.form).toBeUndefined();
      fake.form = { fields: [], file: bytes, filename: 'data.bin', contentLength: 0 };
      expect((await uploadDirect(resumed, options())).status).toBe('complete');
    },
  );
});

describe('multipartFormBody', () => {
  it('announces exactly the length it streams', async () => {
    const file = randomBytes(5000);
    const form = multipartFormBody(
      { key: 'k', 'x-amz-meta-name': 'a "quoted"\r\nname ✓' },
      { field: 'file', filename: 'tön "x".wav', contentType: 'audio/wav', size: file.length },
      Readable.from([file.subarray(0, 1234), file.subarray(1234)]),
    );
    const pieces: Buffer[] = [];
    for await (const p of form.body) pieces.push(p as Buffer);
    const body = Buffer.concat(pieces);
    expect(body.length).toBe(form.length);
    expect(form.contentType).toMatch(/^multipart\/form-data; boundary=----kiln-[0-9a-f]{32}$/);
    expect(body.includes(file)).toBe(true);
    const text = body.toString('utf8');
    expect(text).toContain('name="file"; filename="tön %22x%22.wav"\r\nContent-Type: audio/wav\r\n\r\n');
    expect(text).toContain('a "quoted"\r\nname ✓');
    expect(text.indexOf('name="key"')).toBeLessThan(text.indexOf('name="file"'));
  });
});
