// The stack the tus e2e files share (two gateways, an assembler, a converter) and the tus
// requests they make: creation, PATCH, HEAD, the offset, assembly, and the real tus-js-client.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import * as tus from 'tus-js-client';
import { makeTempDir } from '../../libs/media/src/testing';
import type { MinioObjectStore } from '../../libs/storage/src/minio-object-store';
import { makeRandomFile } from '../files';
import { Stack } from '../stack';
import { keysUnder, objectStoreOf } from './object-store';
import { assembledUpload } from './uploads';

export const MiB = 1024 * 1024;
export const MAX_FILE = 100 * MiB;
/** KILN_CHUNK_SIZE_MAX of this stack: a PATCH larger than this is stored as several chunk objects. */
export const CHUNK_MAX = 6 * MiB;
export const TUS = { 'Tus-Resumable': '1.0.0' };
export const OFFSET_STREAM = 'application/offset+octet-stream';

export const b64 = (s: string) => Buffer.from(s).toString('base64');
export const metadata = (m: Record<string, string>) =>
  Object.entries(m)
    .map(([k, v]) => `${k} ${b64(v)}`)
    .join(',');
export const digest = (algorithm: 'sha1' | 'sha256', bytes: Buffer) =>
  createHash(algorithm).update(bytes).digest('base64');
export const idOf = (location: string) => location.split('/').pop()!;

/** The running stack of one tus e2e file, its clients, and the requests the tests make. */
export class TusStack {
  readonly stack = new Stack();
  tmp!: { dir: string; remove: () => Promise<void> };
  store!: MinioObjectStore;
  redis!: Redis;
  db!: Client;

  async start(): Promise<void> {
    this.tmp = await makeTempDir('kiln-tus-');
    await this.stack.start({
      gateways: 2,
      converters: 1,
      env: { KILN_MAX_FILE_SIZE: String(MAX_FILE), KILN_CHUNK_SIZE_MAX: String(CHUNK_MAX) },
    });
    this.store = objectStoreOf(this.stack);
    this.redis = new Redis(this.stack.env.REDIS_URL, { maxRetriesPerRequest: null });
    this.db = new Client({ connectionString: this.stack.db.url });
    await this.db.connect();
  }

  async stop(): Promise<void> {
    await this.db?.end();
    this.redis?.disconnect();
    await this.stack.stop();
    await this.tmp?.remove();
  }

  create = async (headers: Record<string, string>, init: { base?: string; key?: string | null; body?: Buffer } = {}) =>
    this.stack.api('/v1/tus/', {
      method: 'POST',
      base: init.base,
      key: init.key,
      headers: { ...TUS, ...headers },
      body: init.body,
    });

  createUpload = async (length: number, meta: Record<string, string> = { filename: 'f.bin' }, base?: string) => {
    const res = await this.create({ 'Upload-Length': String(length), 'Upload-Metadata': metadata(meta) }, { base });
    expect(res.status).toBe(201);
    return res.headers.get('location')!;
  };

  patch = (location: string, offset: number, body: Buffer, headers: Record<string, string> = {}, key?: string | null) =>
    this.stack.api(new URL(location).pathname, {
      base: new URL(location).origin,
      key,
      method: 'PATCH',
      headers: { ...TUS, 'Content-Type': OFFSET_STREAM, 'Upload-Offset': String(offset), ...headers },
      body,
    });

  head = (location: string, base?: string, headers: Record<string, string> = {}, key?: string | null) =>
    this.stack.api(new URL(location).pathname, {
      base: base ?? new URL(location).origin,
      key,
      method: 'HEAD',
      headers: { ...TUS, ...headers },
    });

  offsetOf = async (location: string, base?: string): Promise<number> => {
    const res = await this.head(location, base);
    expect(res.status).toBe(200);
    return Number(res.headers.get('upload-offset'));
  };

  assembled = (uploadId: string) => assembledUpload(this.stack, uploadId);

  /**
   * Where an assembled upload's file is: its recorded object key (the multipart upload's key when
   * every piece was a part, else the input's or the upload's own key).
   */
  storedKey = async (uploadId: string): Promise<string> =>
    (await this.db.query<{ object_key: string }>('SELECT object_key FROM uploads WHERE id = $1', [uploadId])).rows[0]
      .object_key;

  keysUnder = (prefix: string) => keysUnder(this.store, prefix);

  /** A tus-js-client upload of a file, run until success (or until `stopAt` bytes went out: then aborted). */
  runClient = (file: string, options: Partial<tus.UploadOptions> & { stopAt?: number }) => {
    const requests: { method: string; offset: number | null; url: string }[] = [];
    let upload!: tus.Upload;
    let stopping = false;
    const done = new Promise<'done' | 'aborted'>((resolve, reject) => {
      upload = new tus.Upload(createReadStream(file), {
        headers: { 'X-Api-Key': this.stack.apiKey },
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
  };
}

/** Starts a tus stack for the enclosing describe block (stopped after it). */
export function useTusStack(): TusStack {
  const t = new TusStack();
  beforeAll(() => t.start());
  afterAll(() => t.stop());
  return t;
}

export const SMALL = 3 * MiB;

/** A random file of SMALL bytes in the stack's temporary folder, for the raw-HTTP protocol tests. */
export function useSmallFile(t: TusStack) {
  const file = { path: '', bytes: Buffer.alloc(0), sha: () => createHash('sha256').update(file.bytes).digest('hex') };
  beforeAll(async () => {
    file.path = path.join(t.tmp.dir, 'small.bin');
    await makeRandomFile(file.path, SMALL);
    file.bytes = await readFile(file.path);
  });
  return file;
}

/** The raw-HTTP protocol tests: a tus stack and a small file, in the describe blocks they are named under. */
export function describeTusProtocol(tests: (t: TusStack, small: ReturnType<typeof useSmallFile>) => void): void {
  describe('tus 1.0 endpoint /v1/tus/ (real processes, two gateways)', () => {
    const t = useTusStack();
    describe('protocol (raw HTTP)', () => {
      tests(t, useSmallFile(t));
    });
  });
}
