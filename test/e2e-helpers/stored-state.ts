// What a running stack has stored, read from the outside: every row of every table (PostgreSQL),
// every object and every in-progress multipart upload with its parts (the stack's S3 bucket), the
// Redis keys under the stack's prefix that hold upload slots, locks and counters, and the BullMQ
// jobs of the work queues. A refused request must leave all of it as it was (refusals*.e2e-spec.ts).
import { Redis } from 'ioredis';
import { Client as Pg } from 'pg';
import { minioClient } from '../../libs/storage/src/s3-bucket';
import type { MinioObjectStore } from '../../libs/storage/src/minio-object-store';
import type { Stack } from '../stack';
import { objectStoreOf } from './object-store';

/** Queues whose jobs are work a request may have started (maintenance runs on its own schedule). */
const WORK_QUEUES = ['assemble', 'fetch', 'convert', 'finalize', 'callback'];
const ALL_QUEUES = [...WORK_QUEUES, 'maintenance'];

export interface StoredState {
  /** Every row of every table but the migration log, as JSON text, sorted; by table. */
  rows: Record<string, string[]>;
  /** Every object of the bucket: key, size, ETag. */
  objects: string[];
  /** Every in-progress multipart upload: key and upload id, with its parts (number, ETag, size). */
  multipart: string[];
  /**
   * The keys under the prefix that are neither BullMQ's nor counters meant to count requests and
   * refusals (the per-minute rate and failed-authentication windows): upload slots, event-stream
   * slots, upload and part locks, and anything else a request could leave. Type and content.
   */
  redis: Record<string, string>;
  /** BullMQ job ids of the work queues. */
  queued: string[];
}

export class StoredStateProbe {
  private pg!: Pg;
  private redisClient!: Redis;
  store!: MinioObjectStore;

  constructor(private readonly stack: Stack) {}

  get prefix(): string {
    return this.stack.env.KILN_QUEUE_PREFIX;
  }

  get redis(): Redis {
    return this.redisClient;
  }

  async start(): Promise<void> {
    this.pg = new Pg({ connectionString: this.stack.db.url });
    await this.pg.connect();
    this.redisClient = new Redis(this.stack.env.REDIS_URL, { maxRetriesPerRequest: null });
    this.store = objectStoreOf(this.stack);
  }

  async stop(): Promise<void> {
    await this.pg?.end();
    this.redisClient?.disconnect();
  }

  /** A query on the stack's database (for the rows a test looks at by name). */
  async query<T extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pg.query(sql, params)).rows as T[];
  }

  async snapshot(): Promise<StoredState> {
    const [rows, objects, multipart, redis, queued] = await Promise.all([
      this.rows(),
      this.objects(),
      this.multipartUploads(),
      this.redisKeys(),
      this.queuedJobs(),
    ]);
    return { rows, objects, multipart, redis, queued };
  }

  private async rows(): Promise<Record<string, string[]>> {
    const tables = await this.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables
        WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations'
        ORDER BY table_name`,
    );
    const out: Record<string, string[]> = {};
    for (const { name } of tables) {
      const rows = await this.query<{ r: string }>(`SELECT row_to_json(t)::text AS r FROM "${name}" t`);
      out[name] = rows.map((row) => row.r).sort();
    }
    return out;
  }

  private async objects(): Promise<string[]> {
    const out: string[] = [];
    for await (const o of this.store.list('')) out.push(`${o.key} ${o.size} ${o.etag ?? ''}`);
    return out.sort();
  }

  private async multipartUploads(): Promise<string[]> {
    const env = this.stack.env;
    const keys = { accessKey: env.S3_ACCESS_KEY, secretKey: env.S3_SECRET_KEY };
    const client = minioClient(env.S3_ENDPOINT, keys, 'us-east-1') as unknown as {
      listIncompleteUploadsQuery(
        bucket: string,
        prefix: string,
        keyMarker: string,
        uploadIdMarker: string,
        delimiter: string,
      ): Promise<{ uploads: { key: string; uploadId: string }[]; isTruncated: boolean }>;
    };
    const bucket = env.S3_BUCKET;
    const out: string[] = [];
    let keyMarker = '';
    let uploadIdMarker = '';
    for (;;) {
      const page = await client.listIncompleteUploadsQuery(bucket, '', keyMarker, uploadIdMarker, '');
      for (const u of page.uploads) {
        const parts = await this.store.listParts(u.key, u.uploadId).catch(() => []);
        const listed = parts.map((p) => `${p.partNumber}:${p.etag}:${p.size}`).join(',');
        out.push(`${u.key} ${u.uploadId} [${listed}]`);
      }
      if (!page.isTruncated || !page.uploads.length) break;
      const last = page.uploads[page.uploads.length - 1];
      keyMarker = last.key;
      uploadIdMarker = last.uploadId;
    }
    return out.sort();
  }

  private async scan(pattern: string): Promise<string[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await this.redisClient.scan(cursor, 'MATCH', pattern, 'COUNT', '1000');
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    return keys;
  }

  private async redisKeys(): Promise<Record<string, string>> {
    const p = this.prefix;
    const counted = [`${p}:limits:rate:`, `${p}:auth-failures:`];
    const keys = (await this.scan(`${p}:*`)).filter(
      (k) => !counted.some((c) => k.startsWith(c)) && !ALL_QUEUES.some((q) => k.startsWith(`${p}:${q}:`)),
    );
    const out: Record<string, string> = {};
    for (const key of keys.sort()) out[key] = await this.describeKey(key);
    return out;
  }

  /** A key's type and content; a zset by its members (scores are times), a key's TTL only as "expires". */
  private async describeKey(key: string): Promise<string> {
    const r = this.redisClient;
    const type = await r.type(key);
    const expires = (await r.pttl(key)) >= 0 ? ' expires' : '';
    let content: string;
    if (type === 'string') content = (await r.get(key)) ?? '';
    else if (type === 'zset') content = (await r.zrange(key, '0', '-1')).sort().join(',');
    else if (type === 'set') content = (await r.smembers(key)).sort().join(',');
    else if (type === 'hash') content = JSON.stringify(Object.entries(await r.hgetall(key)).sort());
    else if (type === 'list') content = (await r.lrange(key, 0, -1)).join(',');
    else content = '?';
    return `${type}${expires} ${content}`;
  }

  private async queuedJobs(): Promise<string[]> {
    const p = this.prefix;
    const out: string[] = [];
    for (const q of WORK_QUEUES) {
      for (const key of await this.scan(`${p}:${q}:${q}.*`)) {
        const id = key.slice(`${p}:${q}:`.length);
        if (!id.includes(':')) out.push(`${q}/${id}`);
      }
    }
    return out.sort();
  }
}

/** An answer as a test reads it: from fetch, or from a raw request. */
export type Answer = Response | { status: number; headers: Record<string, unknown>; body: string };

export interface ExpectedRefusal {
  status: number;
  /** The `error.code` of API.md's table. */
  code: string;
  /** What the message must say. */
  message?: RegExp;
  /** A field the error's details must name. */
  field?: string;
}

/** The JSON error of an answer, checked against API.md's shape and the expected code and status. */
export async function expectJsonError(answer: Answer, expected: ExpectedRefusal): Promise<void> {
  const status = answer.status;
  const type = answer instanceof Response ? answer.headers.get('content-type') : answer.headers['content-type'];
  const text = answer instanceof Response ? await answer.text() : answer.body;
  expect({ status, text }).toEqual({ status: expected.status, text: expect.any(String) });
  expect(String(type)).toMatch(/^application\/json/);
  const body = JSON.parse(text) as { error: { code: string; message: string; details?: { field?: string }[] } };
  expect(body.error).toMatchObject({ code: expected.code, message: expect.any(String) });
  if (expected.message) expect(body.error.message).toMatch(expected.message);
  if (expected.field) expect(body.error.details?.map((d) => d.field)).toContain(expected.field);
}

/**
 * Snapshots the stored state, makes a request that must be refused, checks the documented JSON
 * error, and asserts that the stored state after the answer is the state before it.
 */
export async function expectRefusedWithoutTrace(
  probe: StoredStateProbe,
  request: () => Promise<Answer>,
  expected: ExpectedRefusal,
): Promise<void> {
  const before = await probe.snapshot();
  const answer = await request();
  await expectJsonError(answer, expected);
  expect(await probe.snapshot()).toEqual(before);
}
