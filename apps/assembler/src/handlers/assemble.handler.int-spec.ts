/**
 * AssembleHandler against real PostgreSQL, S3 (radosgw) and Redis/BullMQ: server-side compose and
 * streamed assembly give the exact bytes; running it twice, concurrently, or again after a crash
 * between compose and the database write still leaves one correct object.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Job as BullJob } from 'bullmq';
import type { Redis } from 'ioredis';
import { createPrismaClient, type PrismaClient } from '@kiln/database';
import { createTestDatabase, type TestDatabase } from '@kiln/database/testing';
import { createLogger } from '@kiln/observability';
import { createRedis, QueueProducer, type HandlerContext } from '@kiln/queue';
import { MinioObjectStore, minioObjectStoreOptionsFromEnv } from '@kiln/storage';
import { JobLifecycle } from '@kiln/workflow';
import { AssembleHandler, assembledKey, canComposeServerSide } from './assemble.handler';

jest.setTimeout(120_000);

const MiB = 1024 * 1024;
let db: TestDatabase;
let prisma: PrismaClient;
let store: MinioObjectStore;
let redis: Redis;
let producer: QueueProducer;
let handler: AssembleHandler;
const bucket = `kiln-asm-${randomBytes(5).toString('hex')}`;

const ctx = (): HandlerContext => ({ job: { id: 'assemble.test', attemptsMade: 0, opts: { attempts: 5 } } as unknown as BullJob, signal: new AbortController().signal, attempt: 1, isLastAttempt: false });

beforeAll(async () => {
  db = await createTestDatabase();
  prisma = createPrismaClient({ url: db.url, poolSize: 4 });
  store = new MinioObjectStore({ ...minioObjectStoreOptionsFromEnv(process.env), bucket });
  await store.ensureBucket();
  redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'producer');
  producer = new QueueProducer(redis, `kiln-test-asm-${randomBytes(4).toString('hex')}`);
  const lifecycle = new JobLifecycle(prisma, producer, { attempts: 1, backoffMs: 100 });
  handler = new AssembleHandler(prisma, store, createLogger('assemble-test', 'silent'), lifecycle);
});

afterAll(async () => {
  for await (const o of store.list('')) await store.remove(o.key);
  await producer.close();
  redis.disconnect();
  await prisma.$disconnect();
  await db.drop();
});

/** A job with one input whose upload has every chunk stored (sizes in bytes, in order). */
async function seedUpload(sizes: number[], checksum?: 'right' | 'wrong') {
  const bytes = randomBytes(sizes.reduce((a, b) => a + b, 0));
  const sha = createHash('sha256').update(bytes).digest('hex');
  const jobId = randomUUID();
  const inputId = randomUUID();
  const uploadId = randomUUID();
  await prisma.job.create({
    data: {
      id: jobId, ownerKeyHash: 'a'.repeat(64), token: randomBytes(16).toString('hex'), process: false,
      inputs: { create: [{ id: inputId, type: 'upload', source: 'upload', status: 'assembling' }] },
    },
  });
  await prisma.upload.create({
    data: {
      id: uploadId, ownerKeyHash: 'a'.repeat(64), jobId, inputId, clientUploadId: 'c1', filename: 'file.bin', size: BigInt(bytes.length),
      receivedBytes: BigInt(bytes.length), status: 'complete', checksumSha256: checksum === 'right' ? sha : checksum === 'wrong' ? 'b'.repeat(64) : null,
    },
  });
  let start = 0;
  for (const size of sizes) {
    const end = start + size - 1;
    const key = `chunks/${uploadId}/${start}-${end}.x`;
    const put = await store.put(key, Readable.from([bytes.subarray(start, end + 1)]), { size });
    await prisma.uploadChunk.create({ data: { id: randomUUID(), uploadId, start: BigInt(start), end: BigInt(end), sha256: put.sha256, objectKey: key } });
    start = end + 1;
  }
  return { jobId, inputId, uploadId, sha, size: bytes.length };
}

async function shaOf(key: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of await store.get(key)) h.update(c as Buffer);
  return h.digest('hex');
}

async function chunkObjects(uploadId: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list(`chunks/${uploadId}/`)) keys.push(o.key);
  return keys;
}

describe('AssembleHandler (real S3 and PostgreSQL)', () => {
  it('chooses server-side compose only when every chunk but the last is at least 5 MiB', () => {
    const c = (s: number, e: number) => ({ start: BigInt(s), end: BigInt(e) });
    expect(canComposeServerSide([c(0, 5 * MiB - 1), c(5 * MiB, 5 * MiB + 10)])).toBe(true);
    expect(canComposeServerSide([c(0, 5 * MiB - 2), c(5 * MiB - 1, 5 * MiB + 10)])).toBe(false);
    expect(canComposeServerSide([c(0, 10)])).toBe(true);
  });

  it.each([
    ['server-side compose', [5 * MiB, 5 * MiB, 123]],
    ['streamed assembly', [300_000, 300_000, 300_000, 17]],
  ])('%s gives the exact bytes, marks the input ready and removes the chunks', async (_name, sizes) => {
    const u = await seedUpload(sizes as number[], 'right');
    const outcome = await handler.handle({ uploadId: u.uploadId }, ctx());
    expect(outcome.status).toBe('success');
    const key = assembledKey({ id: u.uploadId, jobId: u.jobId, inputId: u.inputId, filename: 'file.bin' });
    expect(await shaOf(key)).toBe(u.sha);
    const input = await prisma.input.findUniqueOrThrow({ where: { id: u.inputId } });
    expect(input).toMatchObject({ status: 'ready', objectKey: key, size: BigInt(u.size), checksumSha256: u.sha });
    expect(await chunkObjects(u.uploadId)).toEqual([]);
    // A second delivery of the same queue message changes nothing.
    expect((await handler.handle({ uploadId: u.uploadId }, ctx())).status).toBe('skipped');
    expect(await shaOf(key)).toBe(u.sha);
  });

  it('two assemblers racing on one upload still leave one correct object', async () => {
    const u = await seedUpload([5 * MiB, 2 * MiB]);
    const outcomes = await Promise.all([handler.handle({ uploadId: u.uploadId }, ctx()), handler.handle({ uploadId: u.uploadId }, ctx())]);
    expect(outcomes.map((o) => o.status)).toContain('success');
    const key = assembledKey({ id: u.uploadId, jobId: u.jobId, inputId: u.inputId, filename: 'file.bin' });
    expect(await shaOf(key)).toBe(u.sha);
    expect((await store.stat(key))?.size).toBe(u.size);
  });

  it('a crash after the object was written but before the database said so is repaired by the retry', async () => {
    const u = await seedUpload([5 * MiB, 1 * MiB]);
    const key = assembledKey({ id: u.uploadId, jobId: u.jobId, inputId: u.inputId, filename: 'file.bin' });
    // The state a crash between compose and the database write leaves: a complete object, no record of it.
    await store.compose(key, (await prisma.uploadChunk.findMany({ where: { uploadId: u.uploadId }, orderBy: { start: 'asc' } })).map((c) => c.objectKey));
    expect((await prisma.upload.findUniqueOrThrow({ where: { id: u.uploadId } })).completedAt).toBeNull();
    expect((await handler.handle({ uploadId: u.uploadId }, ctx())).status).toBe('success');
    expect(await shaOf(key)).toBe(u.sha);
    expect((await prisma.input.findUniqueOrThrow({ where: { id: u.inputId } })).status).toBe('ready');
  });

  it('a declared checksum that does not match fails the upload and its input, and keeps no bytes', async () => {
    const u = await seedUpload([200_000, 1000], 'wrong');
    const outcome = await handler.handle({ uploadId: u.uploadId }, ctx());
    expect(outcome).toMatchObject({ status: 'failed', code: 'unprocessable', message: expect.stringMatching(/checksum mismatch/) });
    expect(await prisma.upload.findUniqueOrThrow({ where: { id: u.uploadId } })).toMatchObject({ status: 'failed' });
    expect(await prisma.input.findUniqueOrThrow({ where: { id: u.inputId } })).toMatchObject({ status: 'failed', error: expect.stringMatching(/checksum mismatch/) });
    expect(await store.stat(assembledKey({ id: u.uploadId, jobId: u.jobId, inputId: u.inputId, filename: 'file.bin' }))).toBeNull();
    expect(await chunkObjects(u.uploadId)).toEqual([]);
  });

  it('refuses rows with a gap instead of producing a wrong file', async () => {
    const u = await seedUpload([100_000, 100_000]);
    await prisma.uploadChunk.deleteMany({ where: { uploadId: u.uploadId, start: 0n } });
    const outcome = await handler.handle({ uploadId: u.uploadId }, ctx());
    expect(outcome).toMatchObject({ status: 'failed', message: expect.stringMatching(/do not cover/) });
  });
});
