// The tus 1.0.0 endpoint end to end: the real tus-js-client and raw HTTP against two gateway
// processes, an assembler and a converter; real PostgreSQL, Redis, S3 (radosgw) and ffmpeg.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import * as tus from 'tus-js-client';
import { makeAudio, makeTempDir } from '../libs/media/src/testing';
import { MinioObjectStore } from '../libs/storage/src/minio-object-store';
import { makeRandomFile, sha256OfStream } from '../test/files';
import { Stack, freePort, json, waitFor } from '../test/stack';

jest.setTimeout(240_000);

const MiB = 1024 * 1024;
const MAX_FILE = 100 * MiB;
/** KILN_CHUNK_SIZE_MAX of this stack: a PATCH larger than this is stored as several chunk objects. */
const CHUNK_MAX = 6 * MiB;
const TUS = { 'Tus-Resumable': '1.0.0' };
const OFFSET_STREAM = 'application/offset+octet-stream';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const metadata = (m: Record<string, string>) =>
  Object.entries(m)
    .map(([k, v]) => `${k} ${b64(v)}`)
    .join(',');
const digest = (algorithm: 'sha1' | 'sha256', bytes: Buffer) => createHash(algorithm).update(bytes).digest('base64');

/** Forwards each request to the next gateway in turn (no stickiness), and remembers who got what. */
class RoundRobinProxy {
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

/** A raw request whose body the test writes piece by piece (and may cut off). */
function openRequest(url: string, method: string, headers: Record<string, string | number>) {
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

describe('tus 1.0 endpoint /v1/tus/ (real processes, two gateways)', () => {
  const stack = new Stack();
  let proxy: RoundRobinProxy;
  let tmp: { dir: string; remove: () => Promise<void> };
  let store: MinioObjectStore;
  let redis: Redis;
  let db: Client;
  let big: string;
  let bigSha: string;
  const BIG = 40 * MiB;

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-tus-');
    big = path.join(tmp.dir, 'big.bin');
    bigSha = await makeRandomFile(big, BIG);
    await stack.start({
      gateways: 2,
      converters: 1,
      env: { KILN_MAX_FILE_SIZE: String(MAX_FILE), KILN_CHUNK_SIZE_MAX: String(CHUNK_MAX) },
    });
    store = new MinioObjectStore({
      endpoint: stack.env.S3_ENDPOINT,
      accessKey: stack.env.S3_ACCESS_KEY,
      secretKey: stack.env.S3_SECRET_KEY,
      bucket: stack.env.S3_BUCKET,
    });
    redis = new Redis(stack.env.REDIS_URL, { maxRetriesPerRequest: null });
    db = new Client({ connectionString: stack.db.url });
    await db.connect();
    proxy = new RoundRobinProxy(stack.gatewayUrls);
    await proxy.start();
  });

  afterAll(async () => {
    await proxy?.stop();
    await db?.end();
    redis?.disconnect();
    await stack.stop();
    await tmp?.remove();
  });

  const idOf = (location: string) => location.split('/').pop()!;

  async function create(
    headers: Record<string, string>,
    init: { base?: string; key?: string | null; body?: Buffer } = {},
  ) {
    return stack.api('/v1/tus/', {
      method: 'POST',
      base: init.base,
      key: init.key,
      headers: { ...TUS, ...headers },
      body: init.body,
    });
  }

  async function createUpload(length: number, meta: Record<string, string> = { filename: 'f.bin' }, base?: string) {
    const res = await create({ 'Upload-Length': String(length), 'Upload-Metadata': metadata(meta) }, { base });
    expect(res.status).toBe(201);
    return res.headers.get('location')!;
  }

  function patch(
    location: string,
    offset: number,
    body: Buffer,
    headers: Record<string, string> = {},
    key?: string | null,
  ) {
    return stack.api(new URL(location).pathname, {
      base: new URL(location).origin,
      key,
      method: 'PATCH',
      headers: { ...TUS, 'Content-Type': OFFSET_STREAM, 'Upload-Offset': String(offset), ...headers },
      body,
    });
  }

  const head = (location: string, base?: string, headers: Record<string, string> = {}, key?: string | null) =>
    stack.api(new URL(location).pathname, {
      base: base ?? new URL(location).origin,
      key,
      method: 'HEAD',
      headers: { ...TUS, ...headers },
    });

  async function offsetOf(location: string, base?: string): Promise<number> {
    const res = await head(location, base);
    expect(res.status).toBe(200);
    return Number(res.headers.get('upload-offset'));
  }

  async function assembled(uploadId: string) {
    return waitFor(
      'assembly',
      async () => {
        const u = await json(stack.api(`/v1/uploads/${uploadId}`));
        if (u.status === 'failed') throw new Error(`upload failed: ${u.error}`);
        return u.assembled ? u : undefined;
      },
      120_000,
    );
  }

  async function keysUnder(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const o of store.list(prefix)) keys.push(o.key);
    return keys;
  }

  /** A tus-js-client upload of a file, run until success (or until `stopAt` bytes went out: then aborted). */
  function runClient(file: string, options: Partial<tus.UploadOptions> & { stopAt?: number }) {
    const requests: { method: string; offset: number | null; url: string }[] = [];
    let upload!: tus.Upload;
    let stopping = false;
    const done = new Promise<'done' | 'aborted'>((resolve, reject) => {
      upload = new tus.Upload(createReadStream(file), {
        headers: { 'X-Api-Key': stack.apiKey },
        retryDelays: [100, 300, 600, 1000, 2000],
        ...options,
        onBeforeRequest: (req) => {
          const offset = req.getHeader('Upload-Offset');
          requests.push({
            method: req.getMethod(),
            offset: offset === undefined ? null : Number(offset),
            url: req.getURL(),
          });
        },
        onProgress: (sent) => {
          if (options.stopAt !== undefined && sent >= options.stopAt && !stopping) {
            stopping = true;
            upload.abort().then(() => resolve('aborted'), reject);
          }
        },
        onSuccess: () => resolve('done'),
        onError: reject,
      });
      upload.start();
    });
    return { upload: () => upload, done, requests };
  }

  describe('tus-js-client', () => {
    it('uploads 40 MiB in 5 MiB PATCHes, is cut off, and resumes from a new client with the stored URL (not from 0)', async () => {
      const first = runClient(big, {
        endpoint: `${stack.url}/v1/tus/`,
        chunkSize: 5 * MiB,
        metadata: { filename: 'big.bin', checksum_sha256: bigSha },
        stopAt: 13 * MiB,
      });
      expect(await first.done).toBe('aborted');
      const url = first.upload().url!;
      expect(url).toMatch(new RegExp(`^${stack.url}/v1/tus/[0-9a-f-]{36}$`));
      // Two PATCHes of 5 MiB were answered before the third was cut off.
      expect(first.requests.filter((r) => r.method === 'PATCH').length).toBeGreaterThanOrEqual(3);

      const second = runClient(big, { uploadUrl: url, chunkSize: 5 * MiB });
      expect(await second.done).toBe('done');
      expect(second.requests.some((r) => r.method === 'POST')).toBe(false);
      const resumedAt = second.requests.find((r) => r.method === 'PATCH')!.offset!;
      expect(resumedAt).toBeGreaterThanOrEqual(10 * MiB);
      expect(resumedAt).toBeLessThan(BIG);

      const id = idOf(url);
      const done = await assembled(id);
      expect(done).toMatchObject({
        status: 'complete',
        offset: BIG,
        received_bytes: BIG,
        size: BIG,
        filename: 'big.bin',
        checksum_sha256: bigSha,
      });
      expect(await sha256OfStream(await store.get(`uploads/${id}/big.bin`))).toBe(bigSha);
    });

    it('alternates PATCHes between two gateways (round-robin, no stickiness), cut off and resumed', async () => {
      const first = runClient(big, {
        endpoint: `${proxy.url}/v1/tus/`,
        chunkSize: 5 * MiB,
        metadata: { filename: 'rr.bin' },
        stopAt: 22 * MiB,
      });
      expect(await first.done).toBe('aborted');
      const url = first.upload().url!;
      expect(url.startsWith(proxy.url)).toBe(true);
      const second = runClient(big, { uploadUrl: url, chunkSize: 5 * MiB });
      expect(await second.done).toBe('done');
      expect(second.requests.find((r) => r.method === 'PATCH')!.offset!).toBeGreaterThanOrEqual(15 * MiB);

      const patches = proxy.seen.filter((s) => s.method === 'PATCH');
      expect(patches.length).toBeGreaterThanOrEqual(8);
      for (const g of stack.gatewayUrls) expect(patches.filter((p) => p.target === g).length).toBeGreaterThanOrEqual(3);
      const id = idOf(url);
      await assembled(id);
      expect(await sha256OfStream(await store.get(`uploads/${id}/rr.bin`))).toBe(bigSha);
    });

    it('stores one PATCH of the whole file (no chunkSize) as chunk objects of at most KILN_CHUNK_SIZE_MAX, keeping a cut-off PATCH’s bytes', async () => {
      const first = runClient(big, {
        endpoint: `${stack.url}/v1/tus/`,
        metadata: { filename: 'one.bin' },
        stopAt: 15 * MiB,
      });
      expect(await first.done).toBe('aborted');
      const url = first.upload().url!;
      expect(first.requests.filter((r) => r.method === 'PATCH')).toHaveLength(1);
      // Once the gateway has stored what arrived of the cut-off PATCH, it lets go of the upload.
      const id = idOf(url);
      await waitFor(
        'the cut-off PATCH to be stored',
        async () => (await redis.exists(`${stack.env.KILN_QUEUE_PREFIX}:tus:lock:${id}`)) === 0,
        30_000,
        50,
      );
      const kept = await offsetOf(url, stack.gatewayUrls[1]);
      expect(kept).toBeGreaterThan(CHUNK_MAX);
      const second = runClient(big, { uploadUrl: url });
      expect(await second.done).toBe('done');
      expect(second.requests.find((r) => r.method === 'PATCH')!.offset).toBe(kept);

      await assembled(id);
      expect(await sha256OfStream(await store.get(`uploads/${id}/one.bin`))).toBe(bigSha);
      const { rows } = await db.query<{ length: string }>(
        'SELECT "end" - start + 1 AS length FROM upload_chunks WHERE upload_id = $1 ORDER BY start',
        [id],
      );
      expect(rows.length).toBeGreaterThanOrEqual(Math.ceil(BIG / CHUNK_MAX));
      expect(rows.every((r) => Number(r.length) <= CHUNK_MAX)).toBe(true);
      expect(rows.reduce((n, r) => n + Number(r.length), 0)).toBe(BIG);
    });

    it('metadata target creates a job that converts the upload (WAV → MP3), its id in Kiln-Job-Id and GET /v1/uploads/{id}', async () => {
      const wav = await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 1, format: 'wav' });
      let jobId: string | null = null;
      const run = runClient(wav, {
        endpoint: `${stack.url}/v1/tus/`,
        metadata: { filename: 'tone.wav', filetype: 'audio/wav', target: 'mp3' },
        onAfterResponse: (req, res) => {
          if (req.getMethod() === 'POST') jobId = res.getHeader('Kiln-Job-Id') ?? null;
        },
      });
      expect(await run.done).toBe('done');
      expect(jobId).toMatch(/^[0-9a-f-]{36}$/);
      const upload = await json(stack.api(`/v1/uploads/${idOf(run.upload().url!)}`));
      expect(upload).toMatchObject({
        job_id: jobId,
        filename: 'tone.wav',
        content_type: 'audio/wav',
        size: (await stat(wav)).size,
      });
      const job = await waitFor(
        'job to finish',
        async () => {
          const j = await json(stack.api(`/v1/jobs/${jobId}`));
          return ['completed', 'failed', 'canceled'].includes(j.status.code) ? j : undefined;
        },
        120_000,
      );
      expect(job).toMatchObject({
        status: { code: 'completed' },
        process: true,
        input: [{ filename: 'tone.wav', status: 'ready' }],
        conversion: [{ target: 'mp3' }],
      });
      expect(job.output).toHaveLength(1);
      expect(job.output[0].filename).toBe('tone.mp3');
    });
  });

  describe('protocol (raw HTTP)', () => {
    let small: string;
    let smallBytes: Buffer;
    const SMALL = 3 * MiB;
    beforeAll(async () => {
      small = path.join(tmp.dir, 'small.bin');
      await makeRandomFile(small, SMALL);
      smallBytes = await readFile(small);
    });
    const smallSha = () => createHash('sha256').update(smallBytes).digest('hex');

    it('OPTIONS answers without credentials what the server supports, and CORS preflights', async () => {
      const res = await fetch(`${stack.url}/v1/tus/`, { method: 'OPTIONS' });
      expect(res.status).toBe(204);
      expect(Object.fromEntries([...res.headers].filter(([k]) => k.startsWith('tus-')))).toEqual({
        'tus-resumable': '1.0.0',
        'tus-version': '1.0.0',
        'tus-extension': 'creation,creation-with-upload,creation-defer-length,expiration,checksum,termination',
        'tus-max-size': String(MAX_FILE),
        'tus-checksum-algorithm': 'sha1,sha256',
      });
      const pre = await fetch(`${stack.gatewayUrls[1]}/v1/tus/0b8b4b33-0000-4000-8000-000000000000`, {
        method: 'OPTIONS',
        headers: {
          Origin: 'https://app.example',
          'Access-Control-Request-Method': 'PATCH',
          'Access-Control-Request-Headers': 'upload-offset,tus-resumable,x-job-token,content-type',
        },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect(pre.headers.get('access-control-allow-methods')).toContain('PATCH');
      const allowed = pre.headers.get('access-control-allow-headers')!.toLowerCase();
      for (const h of [
        'upload-offset',
        'upload-length',
        'upload-metadata',
        'upload-checksum',
        'tus-resumable',
        'x-job-token',
        'x-api-key',
        'authorization',
        'content-type',
      ])
        expect(allowed).toContain(h);
      // An actual cross-origin request may read the tus headers.
      const created = await create({ 'Upload-Length': '10', Origin: 'https://app.example' });
      expect(created.status).toBe(201);
      expect(created.headers.get('access-control-allow-origin')).toBe('https://app.example');
      const exposed = created.headers.get('access-control-expose-headers')!.toLowerCase();
      for (const h of ['location', 'upload-offset', 'upload-length', 'upload-expires', 'tus-resumable'])
        expect(exposed).toContain(h);
    });

    it('builds Location from KILN_PUBLIC_URL when set, and documents the endpoint in OpenAPI', async () => {
      const port = await freePort();
      const behindProxy = `http://127.0.0.1:${port}`;
      stack.spawnApp('api-gateway', 'gateway-public-url', {
        KILN_PORT: String(port),
        KILN_HOST: '127.0.0.1',
        KILN_PUBLIC_URL: 'https://uploads.example/kiln/',
      });
      await stack.waitReady(behindProxy);
      const res = await create({ 'Upload-Length': '10' }, { base: behindProxy });
      expect(res.status).toBe(201);
      expect(res.headers.get('location')).toMatch(/^https:\/\/uploads\.example\/kiln\/v1\/tus\/[0-9a-f-]{36}$/);
      const doc = await json(fetch(`${stack.url}/docs/openapi.json`));
      expect(Object.keys(doc.paths['/v1/tus/'])).toEqual(expect.arrayContaining(['options', 'post']));
      expect(Object.keys(doc.paths['/v1/tus/{id}'])).toEqual(expect.arrayContaining(['head', 'patch', 'delete']));
    });

    it('refuses another protocol version (412 + Tus-Version), missing credentials (401), a wrong content type (415), more than the limit (413)', async () => {
      const old = await stack.api('/v1/tus/', {
        method: 'POST',
        headers: { 'Tus-Resumable': '0.2.2', 'Upload-Length': '10' },
      });
      expect(old.status).toBe(412);
      expect(old.headers.get('tus-version')).toBe('1.0.0');
      expect(old.headers.get('tus-resumable')).toBe('1.0.0');
      expect((await json(old)).error.code).toBe('invalid_input');

      const anonymous = await create({ 'Upload-Length': '10' }, { key: null });
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('tus-resumable')).toBe('1.0.0');
      expect((await json(anonymous)).error.code).toBe('unauthorized');

      const location = await createUpload(SMALL);
      const wrongType = await patch(location, 0, smallBytes.subarray(0, 1000), {
        'Content-Type': 'application/octet-stream',
      });
      expect(wrongType.status).toBe(415);
      expect(wrongType.headers.get('tus-resumable')).toBe('1.0.0');
      const oldPatch = await patch(location, 0, smallBytes.subarray(0, 1000), { 'Tus-Resumable': '0.2.2' });
      expect(oldPatch.status).toBe(412);
      expect(await offsetOf(location)).toBe(0);

      const huge = await create({ 'Upload-Length': String(MAX_FILE + 1) });
      expect(huge.status).toBe(413);
      expect((await json(huge)).error.code).toBe('payload_too_large');
      const noLength = await create({});
      expect(noLength.status).toBe(400);
      const unknownId = await head(`${stack.url}/v1/tus/0b8b4b33-0000-4000-8000-000000000000`);
      expect(unknownId.status).toBe(404);
    });

    it('creates (201, absolute Location, Upload-Expires), HEAD resumes, PATCH moves the offset; 409 on a wrong offset; completes like a session', async () => {
      const before = Date.now();
      const res = await create(
        {
          'Upload-Length': String(SMALL),
          'Upload-Metadata': metadata({ filename: 'small.bin', filetype: 'application/x-test', note: 'kept as sent' }),
        },
        { base: stack.gatewayUrls[1] },
      );
      expect(res.status).toBe(201);
      expect(res.headers.get('tus-resumable')).toBe('1.0.0');
      const location = res.headers.get('location')!;
      expect(location).toMatch(new RegExp(`^${stack.gatewayUrls[1]}/v1/tus/[0-9a-f-]{36}$`));
      const expires = Date.parse(res.headers.get('upload-expires')!);
      expect(expires).toBeGreaterThan(before + 6 * 24 * 3600 * 1000);

      // Another gateway answers HEAD: the offset lives in PostgreSQL.
      const h0 = await head(location, stack.gatewayUrls[0]);
      expect(h0.status).toBe(200);
      expect(h0.headers.get('upload-offset')).toBe('0');
      expect(h0.headers.get('upload-length')).toBe(String(SMALL));
      expect(h0.headers.get('cache-control')).toBe('no-store');
      expect(h0.headers.get('tus-resumable')).toBe('1.0.0');
      expect(h0.headers.get('upload-expires')).toBe(res.headers.get('upload-expires'));
      expect(h0.headers.get('upload-metadata')).toBe(
        metadata({ filename: 'small.bin', filetype: 'application/x-test', note: 'kept as sent' }),
      );

      const p1 = await patch(location, 0, smallBytes.subarray(0, MiB));
      expect(p1.status).toBe(204);
      expect(p1.headers.get('upload-offset')).toBe(String(MiB));
      expect(p1.headers.get('tus-resumable')).toBe('1.0.0');
      expect(p1.headers.get('upload-expires')).toBe(res.headers.get('upload-expires'));
      const stale = await patch(location, 0, smallBytes.subarray(0, MiB), {}, undefined);
      expect(stale.status).toBe(409);
      expect(await offsetOf(location, stack.gatewayUrls[0])).toBe(MiB);
      // The rest through the other gateway, as a client that cannot send PATCH would (X-HTTP-Method-Override).
      const rest = await stack.api(new URL(location).pathname, {
        base: stack.gatewayUrls[0],
        method: 'POST',
        headers: {
          ...TUS,
          'X-HTTP-Method-Override': 'PATCH',
          'Content-Type': OFFSET_STREAM,
          'Upload-Offset': String(MiB),
        },
        body: smallBytes.subarray(MiB),
      });
      expect(rest.status).toBe(204);
      expect(rest.headers.get('upload-offset')).toBe(String(SMALL));

      const id = idOf(location);
      const done = await assembled(id);
      expect(done).toMatchObject({
        status: 'complete',
        filename: 'small.bin',
        content_type: 'application/x-test',
        size: SMALL,
      });
      expect(await sha256OfStream(await store.get(`uploads/${id}/small.bin`))).toBe(smallSha());
      const after = await head(location);
      expect(after.headers.get('upload-offset')).toBe(String(SMALL));
      expect(after.headers.get('upload-expires')).toBeNull();
      // A finished upload takes no more bytes, and termination is refused as for sessions.
      expect((await patch(location, SMALL, Buffer.from('x'))).status).toBe(409);
      expect((await stack.api(new URL(location).pathname, { method: 'DELETE', headers: TUS })).status).toBe(409);
    });

    it('checks Upload-Checksum (sha1, sha256): a mismatch is 460, the bytes discarded and the offset unchanged; an unknown algorithm 400', async () => {
      const location = await createUpload(SMALL, { filename: 'sum.bin' });
      const part = smallBytes.subarray(0, MiB);
      const bad = await patch(location, 0, part, {
        'Upload-Checksum': `sha256 ${digest('sha256', Buffer.from('other bytes'))}`,
      });
      expect(bad.status).toBe(460);
      expect(bad.statusText).toBe('Checksum Mismatch');
      expect(bad.headers.get('tus-resumable')).toBe('1.0.0');
      expect(await offsetOf(location)).toBe(0);
      expect(await keysUnder(`chunks/${idOf(location)}/`)).toEqual([]);
      expect(
        (
          await patch(location, 0, part, {
            'Upload-Checksum': `md5 ${createHash('md5').update(part).digest('base64')}`,
          })
        ).status,
      ).toBe(400);
      expect(await offsetOf(location)).toBe(0);

      const ok1 = await patch(location, 0, part, { 'Upload-Checksum': `sha1 ${digest('sha1', part)}` });
      expect(ok1.status).toBe(204);
      expect(ok1.headers.get('upload-offset')).toBe(String(MiB));
      const second = smallBytes.subarray(MiB);
      const ok2 = await patch(
        location,
        MiB,
        second,
        { 'Upload-Checksum': `sha256 ${digest('sha256', second)}` },
        undefined,
      );
      expect(ok2.status).toBe(204);
      expect(ok2.headers.get('upload-offset')).toBe(String(SMALL));
      await assembled(idOf(location));
      expect(await sha256OfStream(await store.get(`uploads/${idOf(location)}/sum.bin`))).toBe(smallSha());
    });

    it('creation-with-upload: the POST body is the first PATCH', async () => {
      const firstPart = smallBytes.subarray(0, 2 * MiB);
      const res = await create(
        {
          'Upload-Length': String(SMALL),
          'Upload-Metadata': metadata({ filename: 'cwu.bin' }),
          'Content-Type': OFFSET_STREAM,
          'Upload-Checksum': `sha256 ${digest('sha256', firstPart)}`,
        },
        { body: firstPart },
      );
      expect(res.status).toBe(201);
      expect(res.headers.get('upload-offset')).toBe(String(2 * MiB));
      const location = res.headers.get('location')!;
      const rest = await patch(location, 2 * MiB, smallBytes.subarray(2 * MiB));
      expect(rest.status).toBe(204);
      await assembled(idOf(location));
      expect(await sha256OfStream(await store.get(`uploads/${idOf(location)}/cwu.bin`))).toBe(smallSha());

      // The whole file in the creation request.
      const whole = await create(
        {
          'Upload-Length': String(SMALL),
          'Upload-Metadata': metadata({ filename: 'whole.bin' }),
          'Content-Type': OFFSET_STREAM,
        },
        { body: smallBytes, base: stack.gatewayUrls[1] },
      );
      expect(whole.status).toBe(201);
      expect(whole.headers.get('upload-offset')).toBe(String(SMALL));
      await assembled(idOf(whole.headers.get('location')!));
    });

    it('Upload-Defer-Length: the length comes with a later PATCH', async () => {
      const res = await create({
        'Upload-Defer-Length': '1',
        'Upload-Metadata': metadata({ filename: 'deferred.bin' }),
      });
      expect(res.status).toBe(201);
      const location = res.headers.get('location')!;
      const h = await head(location);
      expect(h.headers.get('upload-defer-length')).toBe('1');
      expect(h.headers.get('upload-length')).toBeNull();
      const p1 = await patch(location, 0, smallBytes.subarray(0, 2 * MiB));
      expect(p1.status).toBe(204);
      expect(p1.headers.get('upload-offset')).toBe(String(2 * MiB));
      expect((await json(stack.api(`/v1/uploads/${idOf(location)}`))).status).toBe('uploading');
      const p2 = await patch(
        location,
        2 * MiB,
        smallBytes.subarray(2 * MiB),
        { 'Upload-Length': String(SMALL) },
        undefined,
      );
      expect(p2.status).toBe(204);
      expect(p2.headers.get('upload-offset')).toBe(String(SMALL));
      const h2 = await head(location);
      expect(h2.headers.get('upload-length')).toBe(String(SMALL));
      expect(h2.headers.get('upload-defer-length')).toBeNull();
      await assembled(idOf(location));
      expect(await sha256OfStream(await store.get(`uploads/${idOf(location)}/deferred.bin`))).toBe(smallSha());
    });

    it('an expired upload is 410; the maintenance run removes it with its chunks', async () => {
      const location = await createUpload(SMALL, { filename: 'old.bin' });
      expect((await patch(location, 0, smallBytes.subarray(0, MiB))).status).toBe(204);
      const id = idOf(location);
      expect(await keysUnder(`chunks/${id}/`)).toHaveLength(1);
      await db.query("UPDATE uploads SET expires_at = now() - interval '1 second' WHERE id = $1", [id]);
      expect((await head(location)).status).toBe(410);
      expect((await patch(location, MiB, smallBytes.subarray(MiB, 2 * MiB))).status).toBe(410);

      const q = new Queue('maintenance', { connection: redis, prefix: stack.env.KILN_QUEUE_PREFIX });
      try {
        const job = await q.add('maintenance', { task: 'expire-uploads' }, { jobId: `tus-expire-${Date.now()}` });
        await waitFor('maintenance run', async () => (await q.getJob(job.id!))?.finishedOn);
      } finally {
        await q.close();
      }
      expect((await head(location)).status).toBe(404);
      expect(await keysUnder(`chunks/${id}/`)).toEqual([]);
    });

    it('DELETE terminates: 204, then 404 and the chunk objects gone', async () => {
      const location = await createUpload(SMALL, { filename: 'gone.bin' });
      expect((await patch(location, 0, smallBytes.subarray(0, MiB))).status).toBe(204);
      const id = idOf(location);
      expect(await keysUnder(`chunks/${id}/`)).toHaveLength(1);
      const del = await stack.api(new URL(location).pathname, {
        base: stack.gatewayUrls[1],
        method: 'DELETE',
        headers: TUS,
      });
      expect(del.status).toBe(204);
      expect(del.headers.get('tus-resumable')).toBe('1.0.0');
      expect((await head(location)).status).toBe(404);
      expect((await patch(location, MiB, smallBytes.subarray(MiB, 2 * MiB))).status).toBe(404);
      expect((await stack.api(`/v1/uploads/${id}`)).status).toBe(404);
      expect(await keysUnder(`chunks/${id}/`)).toEqual([]);

      // The job an upload created (metadata target) ends with it; POST + X-HTTP-Method-Override works too.
      const withJob = await create({
        'Upload-Length': String(SMALL),
        'Upload-Metadata': metadata({ filename: 'gone.wav', target: 'mp3' }),
      });
      const jobId = withJob.headers.get('kiln-job-id')!;
      expect((await json(stack.api(`/v1/jobs/${jobId}`))).status.code).toBe('incomplete');
      const overridden = await stack.api(new URL(withJob.headers.get('location')!).pathname, {
        method: 'POST',
        headers: { ...TUS, 'X-HTTP-Method-Override': 'DELETE' },
      });
      expect(overridden.status).toBe(204);
      expect((await json(stack.api(`/v1/jobs/${jobId}`))).status.code).toBe('canceled');
    });

    it('a PATCH cut off mid-body keeps the bytes that arrived; with Upload-Checksum it keeps none', async () => {
      const location = await createUpload(SMALL, { filename: 'cut.bin' });
      const cut = openRequest(location, 'PATCH', {
        ...TUS,
        'X-Api-Key': stack.apiKey,
        'Content-Type': OFFSET_STREAM,
        'Upload-Offset': '0',
        'Content-Length': SMALL,
      });
      const sent = 768 * 1024 + 13;
      await new Promise((resolve) => cut.req.write(smallBytes.subarray(0, sent), resolve));
      cut.req.destroy();
      // Every byte written before the break-off reaches the server, which records them.
      await waitFor('the cut-off bytes recorded', async () => (await offsetOf(location)) === sent, 30_000);
      const rest = await patch(location, sent, smallBytes.subarray(sent));
      expect(rest.status).toBe(204);
      await assembled(idOf(location));
      expect(await sha256OfStream(await store.get(`uploads/${idOf(location)}/cut.bin`))).toBe(smallSha());

      const checked = await createUpload(SMALL, { filename: 'cut-sum.bin' });
      const cut2 = openRequest(checked, 'PATCH', {
        ...TUS,
        'X-Api-Key': stack.apiKey,
        'Content-Type': OFFSET_STREAM,
        'Upload-Offset': '0',
        'Content-Length': SMALL,
        'Upload-Checksum': `sha256 ${digest('sha256', smallBytes)}`,
      });
      await new Promise((resolve) => cut2.req.write(smallBytes.subarray(0, sent), resolve));
      cut2.req.destroy();
      // The next PATCH at 0 is refused while the broken one still holds the upload (423), then accepted.
      const whole = await waitFor(
        'the upload free again',
        async () => {
          const r = await patch(checked, 0, smallBytes);
          if (r.status === 423) return undefined;
          return r;
        },
        30_000,
      );
      expect(whole.status).toBe(204);
      expect(whole.headers.get('upload-offset')).toBe(String(SMALL));
    });

    it('two gateways PATCH the same upload at once: one writes, the other gets 423 Locked; the data stays intact', async () => {
      const location = await createUpload(SMALL, { filename: 'race.bin' }, stack.gatewayUrls[0]);
      const id = idOf(location);
      const slow = openRequest(location, 'PATCH', {
        ...TUS,
        'X-Api-Key': stack.apiKey,
        'Content-Type': OFFSET_STREAM,
        'Upload-Offset': '0',
        'Content-Length': SMALL,
      });
      slow.req.write(smallBytes.subarray(0, MiB));
      await waitFor(
        'the first PATCH to hold the upload',
        async () => (await redis.exists(`${stack.env.KILN_QUEUE_PREFIX}:tus:lock:${id}`)) === 1,
        30_000,
        50,
      );

      const other = await patch(`${stack.gatewayUrls[1]}/v1/tus/${id}`, 0, smallBytes.subarray(0, MiB), {
        'Upload-Checksum': `sha1 ${digest('sha1', smallBytes.subarray(0, MiB))}`,
      });
      expect(other.status).toBe(423);
      expect(other.headers.get('tus-resumable')).toBe('1.0.0');

      slow.req.end(smallBytes.subarray(MiB));
      const answer = await slow.answer;
      expect(answer.status).toBe(204);
      expect(answer.headers['upload-offset']).toBe(String(SMALL));
      // The loser, retrying after HEAD, finds the upload complete.
      expect(await offsetOf(location, stack.gatewayUrls[1])).toBe(SMALL);
      expect((await patch(`${stack.gatewayUrls[1]}/v1/tus/${id}`, 0, smallBytes.subarray(0, MiB))).status).toBe(409);
      await assembled(id);
      expect(await sha256OfStream(await store.get(`uploads/${id}/race.bin`))).toBe(smallSha());
    });

    it('a job token opens uploads into its own job only (403 for another job), and the upload fills the job’s input', async () => {
      const mk = async () =>
        json(
          stack.api('/v1/jobs', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ process: false, input: [{ type: 'upload' }], conversion: [{ target: 'mp3' }] }),
          }),
        );
      const [job, otherJob] = await Promise.all([mk(), mk()]);
      const asToken = (token: string, headers: Record<string, string>) =>
        create({ ...headers, 'X-Job-Token': token }, { key: null });

      const res = await asToken(job.token, {
        'Upload-Length': String(SMALL),
        'Upload-Metadata': metadata({ filename: 'token.bin', job_id: job.id }),
      });
      expect(res.status).toBe(201);
      expect(res.headers.get('kiln-job-id')).toBe(job.id);
      const location = res.headers.get('location')!;
      const forbidden = await asToken(job.token, {
        'Upload-Length': String(SMALL),
        'Upload-Metadata': metadata({ filename: 'x.bin', job_id: otherJob.id }),
      });
      expect(forbidden.status).toBe(403);
      expect((await json(forbidden)).error.code).toBe('forbidden');
      expect(
        (await asToken(job.token, { 'Upload-Length': '10', 'Upload-Metadata': metadata({ target: 'mp3' }) })).status,
      ).toBe(403);
      // The upload is reachable with its job's token only.
      expect((await head(location, undefined, { 'X-Job-Token': otherJob.token }, null)).status).toBe(403);
      expect((await head(location, undefined, { 'X-Job-Token': job.token }, null)).status).toBe(200);
      const p = await patch(location, 0, smallBytes, { 'X-Job-Token': job.token }, null);
      expect(p.status).toBe(204);
      const input = await waitFor('input ready', async () => {
        const j = await json(stack.api(`/v1/jobs/${job.id}`));
        return j.input[0].status === 'ready' ? j.input[0] : undefined;
      });
      expect(input).toMatchObject({ filename: 'token.bin', size: SMALL });
      expect(await sha256OfStream(await store.get(`inputs/${job.id}/${input.id}/token.bin`))).toBe(smallSha());
    });
  });
});
