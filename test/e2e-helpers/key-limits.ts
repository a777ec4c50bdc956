// The stack of the per-key abuse limit e2e tests: two gateways sharing each limit, a third that
// allows uploads that never expire, one API key per limit; and the requests and counts the tests
// check refusals with.
import { createHash, randomBytes } from 'node:crypto';
import { Client } from 'pg';
import type { MinioObjectStore } from '../../libs/storage/src/minio-object-store';
import { Stack, freePort, json } from '../stack';
import { keysUnder, objectStoreOf } from './object-store';
import { TUS, metadata } from './tus';

export const QUOTA = 10_000;
export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');
const newKey = (name: string) => `kiln_${name}_${randomBytes(10).toString('hex')}`;

export class KeyLimitsStack {
  readonly stack = new Stack();
  readonly keys = {
    uploads: newKey('uploads'),
    streams: newKey('streams'),
    units: newKey('units'),
    jobs: newKey('jobs'),
    quota: newKey('quota'),
    never: newKey('never'),
  };
  db!: Client;
  store!: MinioObjectStore;
  permissive = '';

  async start(): Promise<void> {
    const { stack } = this;
    await stack.start({
      gateways: 2,
      converters: 0,
      env: {
        KILN_API_KEYS: [stack.apiKey, stack.otherKey, ...Object.values(this.keys)].join(','),
        KILN_MAX_OPEN_UPLOADS_PER_KEY: '3',
        KILN_MAX_EVENT_STREAMS_PER_KEY: '2',
        KILN_MAX_UNITS_PER_JOB: '6',
        KILN_MAX_JOBS_IN_FLIGHT_PER_KEY: '4',
        KILN_STORAGE_QUOTA_PER_KEY: String(QUOTA),
      },
    });
    const port = await freePort();
    this.permissive = `http://127.0.0.1:${port}`;
    stack.spawnApp('api-gateway', 'gateway-permissive', {
      KILN_PORT: String(port),
      KILN_HOST: '127.0.0.1',
      KILN_ALLOW_NEVER_EXPIRING_UPLOADS: 'true',
    });
    await stack.waitReady(this.permissive);
    this.db = new Client({ connectionString: stack.db.url });
    await this.db.connect();
    this.store = objectStoreOf(stack);
  }

  async stop(): Promise<void> {
    await this.db?.end();
    await this.stack.stop();
  }

  /** Gateway n (0 or 1) in turn: every limit is shared by the replicas. */
  gw = (n: number) => this.stack.gatewayUrls[n % this.stack.gatewayUrls.length];
  post = (pathname: string, key: string, body: unknown, n = 0) =>
    this.stack.api(pathname, {
      base: this.gw(n),
      key,
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  count = async (sql: string, ...params: unknown[]) => Number((await this.db.query(sql, params)).rows[0].n);
  uploadsOf = (key: string) => this.count('SELECT count(*) AS n FROM uploads WHERE owner_key_hash = $1', hashKey(key));
  jobsOf = (key: string) => this.count('SELECT count(*) AS n FROM jobs WHERE owner_key_hash = $1', hashKey(key));
  objects = (prefix: string) => keysUnder(this.store, prefix);
  tusCreate = (key: string, length: number, meta: Record<string, string> = {}, n = 0) =>
    this.stack.api('/v1/tus/', {
      base: this.gw(n),
      key,
      method: 'POST',
      headers: {
        ...TUS,
        'Upload-Length': String(length),
        'Upload-Metadata': metadata({ filename: 'a.bin', ...meta }),
      },
    });
  expectRefusal = async (res: Response, status: number, code: string, message: string, retryAfter?: string) => {
    const body = await json(res);
    expect({
      status: res.status,
      code: body.error.code,
      message: body.error.message,
      retryAfter: res.headers.get('retry-after') ?? undefined,
    }).toEqual({ status, code, message, retryAfter });
    return body;
  };
}

/** Starts the per-key limits stack for the enclosing describe block (stopped after it). */
export function useKeyLimitsStack(): KeyLimitsStack {
  const k = new KeyLimitsStack();
  beforeAll(() => k.start());
  afterAll(() => k.stop());
  return k;
}
