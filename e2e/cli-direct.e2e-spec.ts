// kiln convert with direct uploads, end to end: the real command (node dist/apps/cli/src/main.js) as
// an OS process against a gateway and radosgw. The clients' S3 address (KILN_S3_PUBLIC_URL) is a
// counting HTTP proxy in front of radosgw, so the test sees every request the CLI sends to S3 (the
// gateway reaches S3 directly and never passes through it). A second stack with
// KILN_DIRECT_UPLOADS=false proves the fallback to chunks through the gateway.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Client } from 'pg';
import { makeTempDir } from '../libs/media/src/testing';
import { databaseOf } from '../test/e2e-helpers/deliveries';
import { objectStoreOf } from '../test/e2e-helpers/object-store';
import { Stack, json, waitFor } from '../test/stack';

jest.setTimeout(180_000);

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist/apps/cli/src/main.js');
const MiB = 1024 * 1024;
const PART = 5 * MiB;

interface S3Request {
  method: string;
  path: string;
  partNumber?: number;
  bytes: number;
  status: number;
}

/** An HTTP proxy in front of radosgw that keeps the Host header (the presigned URLs are signed for it) and logs every request. */
class CountingS3Proxy {
  readonly requests: S3Request[] = [];
  /** Requests to S3 not ended yet (answered in full, or dropped). */
  open = 0;
  private server?: Server;
  url = '';

  constructor(private readonly upstream: URL) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://proxy');
      const seen: S3Request = {
        method: req.method ?? '',
        path: url.pathname,
        partNumber: url.searchParams.has('partNumber') ? Number(url.searchParams.get('partNumber')) : undefined,
        bytes: 0,
        status: 0,
      };
      req.on('data', (b: Buffer) => (seen.bytes += b.length));
      const up = request(
        {
          host: this.upstream.hostname,
          port: this.upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          seen.status = answer.statusCode ?? 0;
          this.requests.push(seen);
          // A client gone after its whole body was sent: S3's answer is still read to its end, so
          // `open` counts a part until S3 has decided on it.
          if (res.destroyed) return void answer.resume();
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      this.open++;
      up.on('close', () => this.open--);
      up.on('error', () => res.destroy());
      // A body cut off on its way: S3 gets it short and stores nothing.
      req.on('aborted', () => up.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  /** Requests from index `from` on that carried bytes to S3 (part PUTs and form POSTs that S3 accepted). */
  stored(from = 0): S3Request[] {
    return this.requests
      .slice(from)
      .filter((r) => (r.method === 'PUT' || r.method === 'POST') && r.status >= 200 && r.status < 300);
  }
}

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const piece of createReadStream(file)) hash.update(piece as Buffer);
  return hash.digest('hex');
}

/** A file of random bytes, written in 1 MiB pieces. */
async function randomFile(file: string, size: number): Promise<string> {
  const pieces: Buffer[] = [];
  for (let n = 0; n < size; n += MiB) pieces.push(randomBytes(Math.min(MiB, size - n)));
  await writeFile(file, Buffer.concat(pieces));
  return file;
}

/** The CLI and its helpers against one stack. */
function cliOf(stack: Stack, dirs: () => { cwd: string; home: string; state: string }) {
  function start(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<CliResult> } {
    const { cwd, home, state } = dirs();
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        KILN_URL: stack.url,
        KILN_API_KEY: stack.apiKey,
        KILN_STATE_DIR: state,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const done = new Promise<CliResult>((resolve) =>
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
    );
    return { child, done };
  }
  async function stateEntries(): Promise<
    Record<string, { job_id: string; files: { upload_id?: string; mode?: string }[] }>
  > {
    const file = path.join(dirs().state, 'uploads.json');
    return existsSync(file) ? JSON.parse(await readFile(file, 'utf8')).entries : {};
  }
  /** Upload bytes the gateway received in request bodies (every kind: chunks, whole files, tus). */
  async function gatewayBytes(): Promise<number> {
    const text = await (await fetch(`${stack.url}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith('kiln_upload_bytes_received_total'))
      .reduce((n, l) => n + Number(l.trim().split(/\s+/).pop()), 0);
  }
  /** The stored input of a job's first input: its bytes' sha256, once the upload is done. */
  async function storedInputSha(db: Client, jobId: string): Promise<string> {
    const key = await waitFor(
      'the input object',
      async () => {
        const { rows } = await db.query<{ object_key: string | null }>(
          'SELECT object_key FROM inputs WHERE job_id = $1',
          [jobId],
        );
        return rows[0]?.object_key ?? undefined;
      },
      30_000,
      100,
    );
    const hash = createHash('sha256');
    for await (const piece of await objectStoreOf(stack).get(key)) hash.update(piece as Buffer);
    return hash.digest('hex');
  }
  return {
    start,
    run: (args: string[], env?: Record<string, string>) => start(args, env).done,
    stateEntries,
    gatewayBytes,
    storedInputSha,
  };
}

describe('kiln convert: direct uploads to S3 (real gateway, radosgw)', () => {
  const stack = new Stack();
  let proxy: CountingS3Proxy;
  let db: Client;
  let tmp: { dir: string; remove: () => Promise<void> };
  const dirs = () => ({ cwd: tmp.dir, home: path.join(tmp.dir, 'home'), state: path.join(tmp.dir, 'state') });
  const cli = cliOf(stack, dirs);

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-cli-direct-');
    await mkdir(dirs().home);
    proxy = new CountingS3Proxy(new URL(process.env.S3_ENDPOINT!));
    await proxy.start();
    // No converter: the jobs stay queued once started; the test is about the uploaded input.
    await stack.start({
      gateways: 1,
      assemblers: 1,
      converters: 0,
      env: { KILN_DIRECT_PART_SIZE: String(PART), KILN_S3_PUBLIC_URL: proxy.url },
    });
    db = await databaseOf(stack);
  });

  afterAll(async () => {
    await db?.end();
    await stack.stop();
    await proxy?.stop();
    await tmp?.remove();
  });

  async function uploadIdOf(jobId: string): Promise<string> {
    const { rows } = await db.query<{ id: string }>('SELECT id FROM uploads WHERE job_id = $1', [jobId]);
    return rows[0].id;
  }

  /** How the upload row says its bytes came: `form` / `multipart` (direct) or null (through the gateway). */
  async function directTransfer(id: string): Promise<string | null> {
    const { rows } = await db.query<{ direct_transfer: string | null }>(
      'SELECT direct_transfer FROM uploads WHERE id = $1',
      [id],
    );
    return rows[0].direct_transfer;
  }

  it('sends a 40 MiB file straight to S3 in 5 MiB parts: the gateway never sees its bytes', async () => {
    const file = await randomFile(path.join(tmp.dir, 'big.bin'), 40 * MiB);
    const sha = await sha256Of(file);
    const gatewayBefore = await cli.gatewayBytes();
    const from = proxy.requests.length;

    const r = await cli.run(['convert', file, '--to', 'mp3', '--no-wait', '--json', '--parallel', '3']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const { job_id: jobId } = JSON.parse(r.stdout);

    // Eight parts, each PUT once to S3 with exactly its bytes; nothing else carried bytes.
    const stored = proxy.stored(from);
    expect(stored.map((q) => q.method)).toEqual(Array(8).fill('PUT'));
    expect(stored.map((q) => q.partNumber).sort((a, b) => a! - b!)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(stored.every((q) => q.bytes === PART)).toBe(true);
    expect(await cli.gatewayBytes()).toBe(gatewayBefore);

    const upload = await json(stack.api(`/v1/uploads/${await uploadIdOf(jobId)}`));
    expect(upload).toMatchObject({ mode: 'direct', transfer: 'multipart', status: 'complete', size: 40 * MiB });
    expect(await directTransfer(upload.id)).toBe('multipart');
    expect(await cli.storedInputSha(db, jobId)).toBe(sha);
    expect(await cli.stateEntries()).toEqual({});
  });

  it('sends a small file as one presigned POST form', async () => {
    const file = await randomFile(path.join(tmp.dir, 'small.bin'), 3 * MiB + 17);
    const from = proxy.requests.length;
    const gatewayBefore = await cli.gatewayBytes();
    const r = await cli.run(['convert', file, '--to', 'mp3', '--no-wait', '--json']);
    expect(r.code).toBe(0);
    const { job_id: jobId } = JSON.parse(r.stdout);
    const stored = proxy.stored(from);
    expect(stored).toHaveLength(1);
    expect(stored[0].method).toBe('POST');
    expect(stored[0].bytes).toBeGreaterThan(3 * MiB + 17); // the file and the form's fields
    expect(stored[0].bytes).toBeLessThan(3 * MiB + 64 * 1024);
    expect(await cli.gatewayBytes()).toBe(gatewayBefore);
    const upload = await json(stack.api(`/v1/uploads/${await uploadIdOf(jobId)}`));
    expect(upload).toMatchObject({ mode: 'direct', transfer: 'form', status: 'complete' });
    expect(await directTransfer(upload.id)).toBe('form');
    expect(await cli.storedInputSha(db, jobId)).toBe(await sha256Of(file));
  });

  it('resumes a killed direct upload: the same session, only the parts S3 lacks are sent again', async () => {
    const file = await randomFile(path.join(tmp.dir, 'resume.bin'), 40 * MiB);
    const sha = await sha256Of(file);
    const args = ['convert', file, '--to', 'mp3', '--no-wait', '--json', '--parallel', '2'];

    // The first run is slowed down so that it is killed with some parts in S3 and others not.
    const first = cli.start([...args, '--limit-rate', '4MiB']);
    const saved = await waitFor(
      'the upload session in the state file',
      async () => {
        const entry = Object.values(await cli.stateEntries())[0];
        return entry?.files[0]?.upload_id ? entry : undefined;
      },
      30_000,
      50,
    );
    expect(saved.files[0].mode).toBe('direct');
    const uploadId = saved.files[0].upload_id!;
    await waitFor(
      'two parts in S3',
      async () => (await json(stack.api(`/v1/uploads/${uploadId}`))).parts.length >= 2,
      60_000,
      50,
    );
    first.child.kill('SIGKILL');
    expect((await first.done).signal).toBe('SIGKILL');

    // A part that was on the wire is dropped by S3 (its body cut short) or lands just after the kill
    // (its body was whole): once every request through the proxy has ended, S3 has decided on each.
    await waitFor('every request to S3 ended', async () => proxy.open === 0, 30_000, 20);
    const held = (await json(stack.api(`/v1/uploads/${uploadId}`))).parts as {
      part_number: number;
      size: number;
      etag: string;
    }[];
    expect(held.length).toBeGreaterThanOrEqual(2);
    expect(held.length).toBeLessThan(8);
    const heldNumbers = held.map((p) => p.part_number);

    const from = proxy.requests.length;
    const second = await cli.run(args);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout).job_id).toBe(saved.job_id); // the same job

    // Exactly the missing parts went to S3 the second time.
    const sent = proxy.stored(from).map((q) => q.partNumber);
    const missing = [1, 2, 3, 4, 5, 6, 7, 8].filter((n) => !heldNumbers.includes(n));
    expect(sent.sort((a, b) => a! - b!)).toEqual(missing);
    const session = await json(stack.api(`/v1/uploads/${uploadId}`)); // the same session, now complete
    expect(session).toMatchObject({ status: 'complete', mode: 'direct' });
    expect(await cli.storedInputSha(db, saved.job_id)).toBe(sha);
    expect(await cli.stateEntries()).toEqual({});
  });

  it('--proxied sends the chunks through the gateway instead', async () => {
    const file = await randomFile(path.join(tmp.dir, 'proxied.bin'), 12 * MiB + 5);
    const from = proxy.requests.length;
    const gatewayBefore = await cli.gatewayBytes();
    const r = await cli.run(['convert', file, '--to', 'mp3', '--no-wait', '--json', '--proxied']);
    expect(r.code).toBe(0);
    const { job_id: jobId } = JSON.parse(r.stdout);
    expect(proxy.requests.slice(from)).toEqual([]); // nothing went to the clients' S3 address
    expect((await cli.gatewayBytes()) - gatewayBefore).toBe(12 * MiB + 5);
    const uploadId = await uploadIdOf(jobId);
    expect(await directTransfer(uploadId)).toBeNull();
    expect(await json(stack.api(`/v1/uploads/${uploadId}`))).toMatchObject({ mode: 'proxied', status: 'complete' });
    expect(await cli.storedInputSha(db, jobId)).toBe(await sha256Of(file));
  });
});

describe('kiln convert: a server without direct uploads (KILN_DIRECT_UPLOADS=false)', () => {
  const stack = new Stack();
  let db: Client;
  let tmp: { dir: string; remove: () => Promise<void> };
  const dirs = () => ({ cwd: tmp.dir, home: path.join(tmp.dir, 'home'), state: path.join(tmp.dir, 'state') });
  const cli = cliOf(stack, dirs);

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-cli-nodirect-');
    await mkdir(dirs().home);
    await stack.start({ gateways: 1, assemblers: 1, converters: 0, env: { KILN_DIRECT_UPLOADS: 'false' } });
    db = await databaseOf(stack);
  });

  afterAll(async () => {
    await db?.end();
    await stack.stop();
    await tmp?.remove();
  });

  it('falls back to chunks through the gateway', async () => {
    expect((await json(stack.api('/v1/uploads/modes'))).modes).toEqual(['proxied']);
    const file = await randomFile(path.join(tmp.dir, 'fallback.bin'), 9 * MiB + 1);
    const gatewayBefore = await cli.gatewayBytes();
    const r = await cli.run(['convert', file, '--to', 'mp3', '--no-wait', '--json']);
    expect(r.code).toBe(0);
    const { job_id: jobId } = JSON.parse(r.stdout);
    expect((await cli.gatewayBytes()) - gatewayBefore).toBe((await stat(file)).size);
    const { rows } = await db.query<{ id: string }>('SELECT id FROM uploads WHERE job_id = $1', [jobId]);
    expect(await json(stack.api(`/v1/uploads/${rows[0].id}`))).toMatchObject({ mode: 'proxied', status: 'complete' });
    expect(await cli.storedInputSha(db, jobId)).toBe(await sha256Of(file));
  });
});
