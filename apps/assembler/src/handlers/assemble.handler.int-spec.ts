/**
 * AssembleHandler against real PostgreSQL, S3 (radosgw) and Redis/BullMQ: server-side compose and
 * streamed assembly give the exact bytes; running it twice, concurrently, or again after a crash
 * between compose and the database write still leaves one correct object.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Job as BullJob } from 'bullmq';
import { createPrismaClient, type PrismaClient } from '@kiln/database';
import { createTestDatabase, type TestDatabase } from '@kiln/database/testing';
import { createLogger } from '@kiln/observability';
import { createRedis, QueueProducer, type HandlerContext, type RedisClient } from '@kiln/queue';
import { MinioObjectStore } from '@kiln/storage';
import { minioObjectStoreOptionsFromEnv } from '@kiln/storage/testing';
import { JobLifecycle } from '@kiln/workflow';
import { S3FaultProxy } from '../../../../test/s3-fault-proxy';
import { AssembleHandler, assembledKey, canComposeServerSide } from './assemble.handler';

jest.setTimeout(120_000);

const MiB = 1024 * 1024;
let db: TestDatabase;
let prisma: PrismaClient;
let store: MinioObjectStore;
let redis: RedisClient;
let producer: QueueProducer;
let handler: AssembleHandler;
const bucket = `kiln-asm-${randomBytes(5).toString('hex')}`;

const ctx = (): HandlerContext => ({
  job: { id: 'assemble.test', attemptsMade: 0, opts: { attempts: 5 } } as unknown as BullJob,
  signal: new AbortController().signal,
  attempt: 1,
  isLastAttempt: false,
});

beforeAll(async () => {
  db = await createTestDatabase();
  prisma = createPrismaClient({ url: db.url, poolSize: 4 });
  store = new MinioObjectStore({ ...minioObjectStoreOptionsFromEnv(process.env), bucket });
  await store.ensureBucket();
  redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'producer');
  // The producer connection queues nothing offline: the first command must wait until it is ready.
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
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
async function seedUpload(sizes: number[], checksum?: 'right' | 'wrong', asPart: boolean[] = []) {
  const bytes = randomBytes(sizes.reduce((a, b) => a + b, 0));
  const sha = createHash('sha256').update(bytes).digest('hex');
  const jobId = randomUUID();
  const inputId = randomUUID();
  const uploadId = randomUUID();
  await prisma.job.create({
    data: {
      id: jobId,
      ownerKeyHash: 'a'.repeat(64),
      token: randomBytes(16).toString('hex'),
      process: false,
      inputs: { create: [{ id: inputId, type: 'upload', source: 'upload', status: 'assembling' }] },
    },
  });
  await prisma.upload.create({
    data: {
      id: uploadId,
      ownerKeyHash: 'a'.repeat(64),
      jobId,
      inputId,
      clientUploadId: 'c1',
      filename: 'file.bin',
      size: BigInt(bytes.length),
      receivedBytes: BigInt(bytes.length),
      status: 'complete',
      checksumSha256: checksum === 'right' ? sha : checksum === 'wrong' ? 'b'.repeat(64) : null,
    },
  });
  let multipart: { id: string; key: string } | undefined;
  if (asPart.some(Boolean)) {
    // As the gateway does: one multipart upload per upload session, chunks of ≥ 5 MiB (and the last) as parts.
    const key = `uploads/${uploadId}/file.bin`;
    multipart = { id: await store.createMultipart(key), key };
    await prisma.upload.update({ where: { id: uploadId }, data: { multipartId: multipart.id, multipartKey: key } });
  }
  // Stored in shuffled order, as chunks arrive.
  const planned = sizes.map((size, i) => ({ i, size, start: sizes.slice(0, i).reduce((a, b) => a + b, 0) }));
  for (const { i, size, start } of [...planned].reverse()) {
    const end = start + size - 1;
    const slice = bytes.subarray(start, end + 1);
    if (asPart[i]) {
      const partNumber = 1 + Math.floor(start / Math.ceil(bytes.length / 10_000));
      const put = await store.putPart(multipart!.key, multipart!.id, partNumber, Readable.from([slice]), size);
      await prisma.uploadChunk.create({
        data: { id: randomUUID(), uploadId, start: BigInt(start), end: BigInt(end), etag: put.etag, partNumber },
      });
    } else {
      const key = `chunks/${uploadId}/${start}-${end}.x`;
      const put = await store.put(key, Readable.from([slice]), { size });
      await prisma.uploadChunk.create({
        data: {
          id: randomUUID(),
          uploadId,
          start: BigInt(start),
          end: BigInt(end),
          sha256: put.sha256,
          objectKey: key,
        },
      });
    }
  }
  return { jobId, inputId, uploadId, sha, size: bytes.length, multipart };
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

  it('every chunk a part: completing the multipart upload is the assembly (no byte read by the assembler)', async () => {
    const u = await seedUpload([5 * MiB, 6 * MiB, 5 * MiB, 777], 'right', [true, true, true, true]);
    const outcome = await handler.handle({ uploadId: u.uploadId }, ctx());
    expect(outcome).toMatchObject({
      status: 'success',
      detail: expect.stringMatching(/4 chunks \(4 as parts\).*multipart/),
    });
    const input = await prisma.input.findUniqueOrThrow({ where: { id: u.inputId } });
    expect(input).toMatchObject({ status: 'ready', objectKey: u.multipart!.key, size: BigInt(u.size) });
    expect(await shaOf(u.multipart!.key)).toBe(u.sha);
    expect((await handler.handle({ uploadId: u.uploadId }, ctx())).status).toBe('skipped');
  });

  it('a crash after the multipart upload was completed but before the database said so is repaired by the retry', async () => {
    const u = await seedUpload([5 * MiB, 3 * MiB], undefined, [true, true]);
    const rows = await prisma.uploadChunk.findMany({ where: { uploadId: u.uploadId }, orderBy: { start: 'asc' } });
    await store.completeMultipart(
      u.multipart!.key,
      u.multipart!.id,
      rows.map((c) => ({ partNumber: c.partNumber!, etag: c.etag! })),
    );
    expect((await handler.handle({ uploadId: u.uploadId }, ctx())).status).toBe('success');
    expect(await shaOf(u.multipart!.key)).toBe(u.sha);
    expect((await prisma.input.findUniqueOrThrow({ where: { id: u.inputId } })).status).toBe('ready');
  });

  it('a mix of parts and small chunk objects is stitched in file order', async () => {
    // 5 MiB part, 100 KB object, 100 KB object, 5 MiB part, the last (small) a part.
    const u = await seedUpload([5 * MiB, 100_000, 100_000, 5 * MiB, 4321], 'right', [true, false, false, true, true]);
    const outcome = await handler.handle({ uploadId: u.uploadId }, ctx());
    expect(outcome).toMatchObject({
      status: 'success',
      detail: expect.stringMatching(/5 chunks \(3 as parts\).*stream/),
    });
    const input = await prisma.input.findUniqueOrThrow({ where: { id: u.inputId } });
    expect(await shaOf(input.objectKey!)).toBe(u.sha);
    expect(await store.stat(u.multipart!.key)).toBeNull(); // the parts' interim object is gone
    expect(await chunkObjects(u.uploadId)).toEqual([]);
  });

  it('a part sent but never recorded (a refused chunk) does not spoil the file: the recorded parts are read back', async () => {
    const u = await seedUpload([5 * MiB, 5 * MiB, 2000], 'right', [true, true, true]);
    // A stray: a part number between the recorded ones, uploaded with other bytes and never recorded.
    const rows = await prisma.uploadChunk.findMany({ where: { uploadId: u.uploadId }, orderBy: { start: 'asc' } });
    const stray = rows[0].partNumber! + 1;
    expect(rows.map((r) => r.partNumber)).not.toContain(stray);
    await store.putPart(u.multipart!.key, u.multipart!.id, stray, Readable.from([randomBytes(5 * MiB)]), 5 * MiB);
    const outcome = await handler.handle({ uploadId: u.uploadId }, ctx());
    expect(outcome).toMatchObject({ status: 'success', detail: expect.stringMatching(/stream/) });
    const input = await prisma.input.findUniqueOrThrow({ where: { id: u.inputId } });
    expect(await shaOf(input.objectKey!)).toBe(u.sha);
    expect(input.size).toBe(BigInt(u.size));
  });

  it('a part whose stored bytes changed (ETag mismatch) fails the upload clearly', async () => {
    const u = await seedUpload([5 * MiB, 1000], undefined, [true, true]);
    await prisma.uploadChunk.updateMany({
      where: { uploadId: u.uploadId, partNumber: 1 },
      data: { etag: '0'.repeat(32) },
    });
    const outcome = await handler.handle({ uploadId: u.uploadId }, ctx());
    expect(outcome).toMatchObject({ status: 'failed', message: expect.stringMatching(/refused the stored parts/) });
    expect((await prisma.input.findUniqueOrThrow({ where: { id: u.inputId } })).status).toBe('failed');
  });

  it('two assemblers racing on one upload still leave one correct object', async () => {
    const u = await seedUpload([5 * MiB, 2 * MiB]);
    const outcomes = await Promise.all([
      handler.handle({ uploadId: u.uploadId }, ctx()),
      handler.handle({ uploadId: u.uploadId }, ctx()),
    ]);
    expect(outcomes.map((o) => o.status)).toContain('success');
    const key = assembledKey({ id: u.uploadId, jobId: u.jobId, inputId: u.inputId, filename: 'file.bin' });
    expect(await shaOf(key)).toBe(u.sha);
    expect((await store.stat(key))?.size).toBe(u.size);
  });

  it('a crash after the object was written but before the database said so is repaired by the retry', async () => {
    const u = await seedUpload([5 * MiB, 1 * MiB]);
    const key = assembledKey({ id: u.uploadId, jobId: u.jobId, inputId: u.inputId, filename: 'file.bin' });
    // The state a crash between compose and the database write leaves: a complete object, no record of it.
    await store.compose(
      key,
      (await prisma.uploadChunk.findMany({ where: { uploadId: u.uploadId }, orderBy: { start: 'asc' } })).map(
        (c) => c.objectKey!,
      ),
    );
    expect((await prisma.upload.findUniqueOrThrow({ where: { id: u.uploadId } })).completedAt).toBeNull();
    expect((await handler.handle({ uploadId: u.uploadId }, ctx())).status).toBe('success');
    expect(await shaOf(key)).toBe(u.sha);
    expect((await prisma.input.findUniqueOrThrow({ where: { id: u.inputId } })).status).toBe('ready');
  });

  it('a declared checksum that does not match fails the upload and its input, and keeps no bytes', async () => {
    const u = await seedUpload([200_000, 1000], 'wrong');
    const outcome = await handler.handle({ uploadId: u.uploadId }, ctx());
    expect(outcome).toMatchObject({
      status: 'failed',
      code: 'unprocessable',
      message: expect.stringMatching(/checksum mismatch/),
    });
    expect(await prisma.upload.findUniqueOrThrow({ where: { id: u.uploadId } })).toMatchObject({ status: 'failed' });
    expect(await prisma.input.findUniqueOrThrow({ where: { id: u.inputId } })).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/checksum mismatch/),
    });
    expect(
      await store.stat(assembledKey({ id: u.uploadId, jobId: u.jobId, inputId: u.inputId, filename: 'file.bin' })),
    ).toBeNull();
    expect(await chunkObjects(u.uploadId)).toEqual([]);
  });

  it('refuses rows with a gap instead of producing a wrong file', async () => {
    const u = await seedUpload([100_000, 100_000]);
    await prisma.uploadChunk.deleteMany({ where: { uploadId: u.uploadId, start: 0n } });
    const outcome = await handler.handle({ uploadId: u.uploadId }, ctx());
    expect(outcome).toMatchObject({ status: 'failed', message: expect.stringMatching(/do not cover/) });
  });

  describe('an error on the last attempt', () => {
    const last = (): HandlerContext => ({ ...ctx(), attempt: 5, isLastAttempt: true });

    it('that another attempt would meet again (a chunk object gone) fails the upload and its input as internal', async () => {
      const u = await seedUpload([100_000, 1000]);
      await store.remove((await chunkObjects(u.uploadId))[0]);
      // Before the last attempt the error is only thrown: BullMQ retries.
      await expect(handler.handle({ uploadId: u.uploadId }, ctx())).rejects.toThrow();
      expect((await prisma.upload.findUniqueOrThrow({ where: { id: u.uploadId } })).status).toBe('complete');
      await expect(handler.handle({ uploadId: u.uploadId }, last())).rejects.toThrow();
      expect(await prisma.upload.findUniqueOrThrow({ where: { id: u.uploadId } })).toMatchObject({
        status: 'failed',
        error: expect.stringMatching(/^assembly failed after 5 attempts: .*not found/),
      });
      expect(await prisma.input.findUniqueOrThrow({ where: { id: u.inputId } })).toMatchObject({
        status: 'failed',
        error: expect.stringMatching(/^assembly failed after 5 attempts/),
      });
    });

    it('from a storage outage (S3 answering 503) leaves the upload complete, for the reconciler to assemble later', async () => {
      const u = await seedUpload([100_000, 1000]);
      const proxy = await new S3FaultProxy(minioObjectStoreOptionsFromEnv(process.env).endpoint).start();
      try {
        const behind = new MinioObjectStore({
          ...minioObjectStoreOptionsFromEnv(process.env),
          endpoint: proxy.url,
          bucket,
        });
        const lifecycle = new JobLifecycle(prisma, producer, { attempts: 1, backoffMs: 100 });
        const outage = new AssembleHandler(prisma, behind, createLogger('assemble-test', 'silent'), lifecycle);
        proxy.unavailable();
        await expect(outage.handle({ uploadId: u.uploadId }, last())).rejects.toMatchObject({ statusCode: 503 });
        expect(proxy.faulted().length).toBeGreaterThan(0);
        expect(await prisma.upload.findUniqueOrThrow({ where: { id: u.uploadId } })).toMatchObject({
          status: 'complete',
          completedAt: null,
        });
        expect((await prisma.input.findUniqueOrThrow({ where: { id: u.inputId } })).status).toBe('assembling');
        proxy.pass();
        expect((await outage.handle({ uploadId: u.uploadId }, ctx())).status).toBe('success');
      } finally {
        await proxy.stop();
      }
    });
  });
});
