/**
 * Taking back what a refused request stored, against real PostgreSQL, S3 (radosgw) and Redis: only
 * the refused request's own things go; a part, chunk or byte another request stored meanwhile stays.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { KilnConfig } from '@kiln/config';
import { createPrismaClient, type PrismaClient } from '@kiln/database';
import { createTestDatabase, type TestDatabase } from '@kiln/database/testing';
import { createRedis, type RedisClient } from '@kiln/queue';
import { MinioObjectStore } from '@kiln/storage';
import { minioObjectStoreOptionsFromEnv } from '@kiln/storage/testing';
import { discardUnusedUpload, releaseUnusedMultipart, withdrawChunks } from './chunk-withdrawal';
import { UploadLocks } from './upload-lock';

jest.setTimeout(60_000);

const MiB = 1024 * 1024;
let db: TestDatabase;
let prisma: PrismaClient;
let store: MinioObjectStore;
let redis: RedisClient;
let locks: UploadLocks;
const bucket = `kiln-withdraw-${randomBytes(5).toString('hex')}`;
const prefix = `kiln-withdraw-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  db = await createTestDatabase();
  prisma = createPrismaClient({ url: db.url, poolSize: 4 });
  store = new MinioObjectStore({ ...minioObjectStoreOptionsFromEnv(process.env), bucket });
  await store.ensureBucket();
  redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'producer');
  // The producer connection queues nothing offline: the first command must wait until it is ready.
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  locks = new UploadLocks(redis, { KILN_QUEUE_PREFIX: prefix } as KilnConfig);
});

afterAll(async () => {
  for await (const o of store.list('')) await store.remove(o.key);
  await store.abortStaleUploads(new Date(Date.now() + 60_000));
  redis.disconnect();
  await prisma.$disconnect();
  await db.drop();
});

/** A standalone upload being sent, with a multipart upload started when asked. */
async function upload(size: number, withMultipart = false) {
  const id = randomUUID();
  const key = `uploads/${id}/f.bin`;
  const multipart = withMultipart ? { id: await store.createMultipart(key), key } : null;
  await prisma.upload.create({
    data: {
      id,
      ownerKeyHash: 'a'.repeat(64),
      filename: 'f.bin',
      size: BigInt(size),
      multipartId: multipart?.id ?? null,
      multipartKey: multipart?.key ?? null,
    },
  });
  return { id, multipart };
}

async function storeChunk(uploadId: string, start: number, length: number, recorded = true) {
  const objectKey = `chunks/${uploadId}/${start}-${start + length - 1}.${randomBytes(3).toString('hex')}`;
  const put = await store.put(objectKey, Readable.from([randomBytes(length)]), { size: length, checksum: 'none' });
  if (recorded) {
    await prisma.uploadChunk.create({
      data: { id: randomUUID(), uploadId, start: BigInt(start), end: BigInt(start + length - 1), objectKey },
    });
    await prisma.upload.update({ where: { id: uploadId }, data: { receivedBytes: { increment: BigInt(length) } } });
  }
  return { start, end: start + length - 1, objectKey, etag: put.etag };
}

const part = (multipart: { id: string; key: string }, n: number, length: number) =>
  store.putPart(multipart.key, multipart.id, n, Readable.from([randomBytes(length)]), length);

const objectKeys = async (under: string) => {
  const keys: string[] = [];
  for await (const o of store.list(under)) keys.push(o.key);
  return keys.sort();
};

describe('withdrawChunks', () => {
  it('removes the refused request’s chunks (rows, received bytes, objects) and nothing else', async () => {
    const u = await upload(10_000);
    const kept = await storeChunk(u.id, 0, 1000);
    const refused = [await storeChunk(u.id, 1000, 2000), await storeChunk(u.id, 3000, 2000)];
    expect(await withdrawChunks(prisma, store, u.id, refused)).toBe(4000);
    const rows = await prisma.uploadChunk.findMany({ where: { uploadId: u.id } });
    expect(rows.map((c) => c.objectKey)).toEqual([kept.objectKey]);
    expect((await prisma.upload.findUniqueOrThrow({ where: { id: u.id } })).receivedBytes).toBe(1000n);
    expect(await objectKeys(`chunks/${u.id}/`)).toEqual([kept.objectKey]);
  });
});

describe('discardUnusedUpload', () => {
  it('removes an upload with no byte recorded: row (restore runs with it), multipart upload, chunk objects', async () => {
    const u = await upload(6 * MiB, true);
    await storeChunk(u.id, 0, 1000, false); // stored by the refused request, never recorded
    let restored = 0;
    expect(await discardUnusedUpload(prisma, store, u.id, async () => void restored++)).toBe(true);
    expect(restored).toBe(1);
    expect(await prisma.upload.findUnique({ where: { id: u.id } })).toBeNull();
    expect(await objectKeys(`chunks/${u.id}/`)).toEqual([]);
    await expect(store.listParts(u.multipart!.key, u.multipart!.id)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('keeps an upload another request recorded a chunk into meanwhile', async () => {
    const u = await upload(6 * MiB, true);
    const theirs = await storeChunk(u.id, 0, 1000);
    let restored = 0;
    expect(await discardUnusedUpload(prisma, store, u.id, async () => void restored++)).toBe(false);
    expect(restored).toBe(0);
    expect((await prisma.upload.findUniqueOrThrow({ where: { id: u.id } })).multipartId).toBe(u.multipart!.id);
    expect(await objectKeys(`chunks/${u.id}/`)).toEqual([theirs.objectKey]);
    expect(await store.listParts(u.multipart!.key, u.multipart!.id)).toEqual([]);
  });
});

describe('releaseUnusedMultipart', () => {
  it('aborts a multipart upload that holds only the refused part, and the row forgets it', async () => {
    const u = await upload(12 * MiB, true);
    await part(u.multipart!, 2, 5 * MiB); // the refused request's own part (refused when recorded)
    expect(await releaseUnusedMultipart(prisma, store, locks, u.id, u.multipart!, 2)).toBe(true);
    const row = await prisma.upload.findUniqueOrThrow({ where: { id: u.id } });
    expect([row.multipartId, row.multipartKey]).toEqual([null, null]);
    await expect(store.listParts(u.multipart!.key, u.multipart!.id)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('keeps it when another request stored a part in it, or a part is recorded', async () => {
    const stored = await upload(12 * MiB, true);
    await part(stored.multipart!, 1, 5 * MiB); // another request's part, not recorded yet
    expect(await releaseUnusedMultipart(prisma, store, locks, stored.id, stored.multipart!, 2)).toBe(false);
    expect((await store.listParts(stored.multipart!.key, stored.multipart!.id)).map((p) => p.partNumber)).toEqual([1]);

    const recorded = await upload(12 * MiB, true);
    await prisma.uploadChunk.create({
      data: { id: randomUUID(), uploadId: recorded.id, start: 0n, end: BigInt(5 * MiB - 1), etag: 'x', partNumber: 1 },
    });
    expect(await releaseUnusedMultipart(prisma, store, locks, recorded.id, recorded.multipart!, 2)).toBe(false);
    const row = await prisma.upload.findUniqueOrThrow({ where: { id: recorded.id } });
    expect(row.multipartId).toBe(recorded.multipart!.id);
    expect(await store.listParts(recorded.multipart!.key, recorded.multipart!.id)).toEqual([]);
  });
});
