// The real services of the FetchHandler specs (fetch.handler*.int-spec.ts): PostgreSQL (a cloned test
// database), S3 (radosgw: S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY; a fresh bucket per file), Redis and
// BullMQ (a unique key prefix), with a handler over them, a hand-made BullMQ job context, seeded jobs
// with remote inputs, and what a failed input must look like.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Job as BullJob } from 'bullmq';
import { Client } from 'minio';
import { parseConfig, type KilnConfig } from '@kiln/config';
import type { QueueName } from '@kiln/contracts';
import { createPrismaClient, type PrismaClient } from '@kiln/database';
import { createTestDatabase, type TestDatabase } from '@kiln/database/testing';
import { createLogger } from '@kiln/observability';
import { createRedis, QueueProducer, type HandlerContext, type RedisClient } from '@kiln/queue';
import { MinioObjectStore } from '@kiln/storage';
import { minioObjectStoreOptionsFromEnv } from '@kiln/storage/testing';
import { JobLifecycle } from '@kiln/workflow';
import { FetchHandler } from '../fetch.handler';
import { LIMIT, server } from './remote-server';

let db: TestDatabase;
export let prisma: PrismaClient;
export let store: MinioObjectStore;
let redis: RedisClient;
export let producer: QueueProducer;
let lifecycle: JobLifecycle;
const bucket = `kiln-fetch-${randomBytes(5).toString('hex')}`;
const prefix = `kiln-test-fetch-${randomBytes(4).toString('hex')}`;
const log = createLogger('fetch-test', 'silent');

function config(overrides: Record<string, string> = {}): KilnConfig {
  return parseConfig({
    KILN_API_KEYS: 'kiln_test_key_0123456789',
    KILN_WEBHOOK_SECRET: 'whsec_0123456789abcdef',
    DATABASE_URL: db.url,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    S3_ENDPOINT: process.env.S3_ENDPOINT,
    S3_ACCESS_KEY: process.env.S3_ACCESS_KEY,
    S3_SECRET_KEY: process.env.S3_SECRET_KEY,
    S3_BUCKET: bucket,
    KILN_ALLOW_PRIVATE_URLS: 'true',
    KILN_MAX_FILE_SIZE: String(LIMIT),
    KILN_FETCH_TIMEOUT_SECONDS: '5',
    KILN_FETCH_MAX_SECONDS: '20',
    ...overrides,
  });
}

export function handler(overrides: Record<string, string> = {}): FetchHandler {
  return new FetchHandler(prisma, store, config(overrides), log, lifecycle);
}

export function context(isLastAttempt = true): HandlerContext {
  const job = {
    id: 'fetch.test',
    name: 'fetch',
    data: {},
    attemptsMade: isLastAttempt ? 2 : 0,
    opts: { attempts: 3 },
  } as unknown as BullJob;
  return { job, signal: new AbortController().signal, attempt: isLastAttempt ? 3 : 1, isLastAttempt };
}

export interface Seeded {
  jobId: string;
  inputIds: string[];
  conversionId: string;
}

/** A job (status as the gateway leaves it) with remote inputs and one conversion. */
export async function seed(sources: string[], options: { process?: boolean; filename?: string } = {}): Promise<Seeded> {
  const process = options.process ?? true;
  const jobId = randomUUID();
  const conversionId = randomUUID();
  const inputIds = sources.map(() => randomUUID());
  await prisma.job.create({
    data: {
      id: jobId,
      ownerKeyHash: 'a'.repeat(64),
      token: randomBytes(16).toString('hex'),
      status: process ? 'downloading' : 'incomplete',
      process,
      inputs: {
        create: sources.map((source, n) => ({
          id: inputIds[n],
          type: 'remote',
          source,
          filename: options.filename ?? null,
          createdAt: new Date(Date.now() + n),
        })),
      },
      conversions: { create: [{ id: conversionId, target: 'mp4', category: 'video' }] },
    },
  });
  return { jobId, inputIds, conversionId };
}

export async function objectsUnder(key: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list(key)) keys.push(o.key);
  return keys;
}

export async function sha256Of(key: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await store.get(key)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Starts the remote server and the real services before the spec file's tests (a cloned database, a
 * fresh bucket, a unique queue prefix), and takes them all down after.
 */
export function useFetchServices(): void {
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    db = await createTestDatabase();
    prisma = createPrismaClient({ url: db.url, poolSize: 4 });
    store = new MinioObjectStore(minioObjectStoreOptionsFromEnv(process.env, bucket));
    await store.ensureBucket();
    redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'client');
    producer = new QueueProducer(redis, prefix);
    lifecycle = new JobLifecycle(prisma, producer, { attempts: 1, backoffMs: 10 });
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    for (const name of ['convert', 'finalize', 'callback'] as QueueName[])
      await producer.queue(name).obliterate({ force: true });
    await producer.close();
    redis.disconnect();
    await prisma.$disconnect();
    await db.drop();
    await store.abortStaleUploads(new Date(Date.now() + 3600_000));
    await store.removePrefix('inputs/');
    const endpoint = new URL(process.env.S3_ENDPOINT!);
    const admin = new Client({
      endPoint: endpoint.hostname,
      port: Number(endpoint.port || 80),
      useSSL: endpoint.protocol === 'https:',
      accessKey: process.env.S3_ACCESS_KEY!,
      secretKey: process.env.S3_SECRET_KEY!,
      region: process.env.S3_REGION ?? 'us-east-1',
      pathStyle: true,
    });
    await admin.removeBucket(bucket);
  });
}

export async function expectInputFailed(s: Seeded, code: string, message: RegExp): Promise<void> {
  const input = await prisma.input.findUniqueOrThrow({ where: { id: s.inputIds[0] } });
  expect(input.status).toBe('failed');
  expect(input.error).toMatch(message);
  expect(input.objectKey).toBeNull();
  const job = await prisma.job.findUniqueOrThrow({ where: { id: s.jobId } });
  expect(job.status).toBe('failed');
  expect(job.finishedAt).toBeInstanceOf(Date);
  expect(job.errors).toEqual([
    { code, source: 'input', input_id: s.inputIds[0], message: expect.stringMatching(message) },
  ]);
  expect(await objectsUnder(`inputs/${s.jobId}/`)).toEqual([]);
}

export async function waitFor(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
