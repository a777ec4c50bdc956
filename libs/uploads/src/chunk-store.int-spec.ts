/**
 * The database work of one chunk request, against real PostgreSQL, S3 (radosgw) and Redis: a chunk
 * with new bytes costs a fixed, small number of SQL statements however many chunks the upload
 * already has (the merged ranges live on the upload's row), and the row's `received` ranges, the
 * chunk rows and the completion are what they must be.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { KilnConfig } from '@kiln/config';
import { createPrismaClient, type PrismaClient } from '@kiln/database';
import { createTestDatabase, type TestDatabase } from '@kiln/database/testing';
import { KilnMetrics } from '@kiln/observability';
import { QueueProducer, createRedis, type RedisClient } from '@kiln/queue';
import { MinioObjectStore } from '@kiln/storage';
import { minioObjectStoreOptionsFromEnv } from '@kiln/storage/testing';
import { JobLifecycle } from '@kiln/workflow';
import { ChunkStore } from './chunk-store';
import { UploadLocks } from './upload-lock';

jest.setTimeout(120_000);

const MiB = 1024 * 1024;
let db: TestDatabase;
let prisma: PrismaClient;
let store: MinioObjectStore;
let redis: RedisClient;
let producer: QueueProducer;
let chunks: ChunkStore;
const statements: string[] = [];
const bucket = `kiln-chunkdb-${randomBytes(5).toString('hex')}`;
const prefix = `kiln-chunkdb-${randomBytes(4).toString('hex')}`;

/**
 * SQL statements of one chunk of new bytes stored as an object, as Prisma reports them (its query
 * events): the upload's advisory lock, its row, one statement inserting the chunk row and updating
 * the upload, COMMIT. (The BEGIN before them is sent without a query event: 5 round trips.)
 */
const OBJECT_CHUNK_STATEMENTS = 4;
/** A chunk stored as a multipart part reads the upload's row once more once it holds the part number. */
const PART_CHUNK_STATEMENTS = 5;

beforeAll(async () => {
  db = await createTestDatabase();
  prisma = createPrismaClient({ url: db.url, poolSize: 4, onQuery: (sql) => statements.push(sql) });
  store = new MinioObjectStore({ ...minioObjectStoreOptionsFromEnv(process.env), bucket });
  await store.ensureBucket();
  redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'producer');
  // The producer connection queues nothing offline: the first command must wait until it is ready.
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  producer = new QueueProducer(redis, prefix);
  const config = { KILN_CHUNK_SIZE_MIN: MiB, KILN_CHUNK_SIZE_MAX: 64 * MiB, KILN_MAX_FILE_SIZE: 1024 * MiB };
  chunks = new ChunkStore(
    prisma,
    store,
    config as KilnConfig,
    producer,
    new JobLifecycle(prisma, producer, { attempts: 1, backoffMs: 1000 }),
    new KilnMetrics({ app: 'test' }),
    new UploadLocks(redis, { KILN_QUEUE_PREFIX: prefix } as KilnConfig),
  );
});

afterAll(async () => {
  for await (const o of store.list('')) await store.remove(o.key);
  await store.abortStaleUploads(new Date(Date.now() + 60_000));
  await producer.close();
  redis.disconnect();
  await prisma.$disconnect();
  await db.drop();
});

async function newUpload(size: number) {
  const id = randomUUID();
  await prisma.upload.create({ data: { id, ownerKeyHash: 'a'.repeat(64), filename: 'f.bin', size: BigInt(size) } });
  return id;
}

/** Sends bytes [start, start + bytes.length) as one chunk; returns the result and the statements it cost. */
async function send(id: string, file: Buffer, start: number, length: number) {
  const upload = await prisma.upload.findUniqueOrThrow({ where: { id } }); // what the gateway loads first
  statements.length = 0;
  const result = await chunks.writeChunk(
    upload,
    { start, end: start + length - 1, total: file.length, length },
    Readable.from([file.subarray(start, start + length)]),
  );
  return { result, statements: [...statements] };
}

test('a chunk of new bytes costs the same few statements, as a part or as an object, however many chunks are in', async () => {
  // 5 MiB chunks are parts of the multipart upload; 1 MiB chunks are objects.
  const file = randomBytes(5 * 5 * MiB + 3 * MiB);
  const id = await newUpload(file.length);
  // The first part also starts the multipart upload (once per upload: one read, one update).
  const first = await send(id, file, 0, 5 * MiB);
  expect(first.statements).toHaveLength(PART_CHUNK_STATEMENTS + 2);
  const parts: number[] = [];
  for (let i = 1; i < 5; i++) parts.push((await send(id, file, i * 5 * MiB, 5 * MiB)).statements.length);
  expect(parts).toEqual([PART_CHUNK_STATEMENTS, PART_CHUNK_STATEMENTS, PART_CHUNK_STATEMENTS, PART_CHUNK_STATEMENTS]);
  const objects: number[] = [];
  for (let i = 0; i < 2; i++) objects.push((await send(id, file, 25 * MiB + i * MiB, MiB)).statements.length);
  expect(objects).toEqual([OBJECT_CHUNK_STATEMENTS, OBJECT_CHUNK_STATEMENTS]);

  // The row keeps the merged ranges; the chunk rows are there, one per chunk.
  let row = await prisma.upload.findUniqueOrThrow({ where: { id } });
  expect(row.received).toEqual([[0, 27 * MiB - 1]]);
  expect(row.receivedBytes).toBe(BigInt(27 * MiB));
  expect(row.status).toBe('uploading');
  expect(await prisma.uploadChunk.count({ where: { uploadId: id } })).toBe(7);

  // An identical re-send reads the overlapping row (the ranges say it is there) and stores nothing.
  const again = await send(id, file, 5 * MiB, 5 * MiB);
  expect(again.result.stored).toBe(false);
  expect(await prisma.uploadChunk.count({ where: { uploadId: id } })).toBe(7);

  // The last chunk completes the upload in the same statements and queues the assembly once.
  const last = await send(id, file, 27 * MiB, MiB); // the file's last chunk: a part
  expect(last.statements).toHaveLength(PART_CHUNK_STATEMENTS);
  expect(last.result.complete).toBe(true);
  expect(last.result.received).toEqual([[0, file.length - 1]]);
  row = await prisma.upload.findUniqueOrThrow({ where: { id } });
  expect(row.status).toBe('complete');
  expect(row.received).toEqual([[0, file.length - 1]]);
  const queued = await producer.queue('assemble').getJobs(['waiting', 'delayed', 'prioritized']);
  expect(queued.filter((j) => (j.data as { uploadId: string }).uploadId === id)).toHaveLength(1);

  // The stored chunks hold the file's bytes: the objects and the parts, in order.
  const rows = await prisma.uploadChunk.findMany({ where: { uploadId: id }, orderBy: { start: 'asc' } });
  const hash = createHash('sha256');
  expect(rows.filter((c) => c.partNumber !== null)).toHaveLength(6); // the five 5 MiB chunks and the file's last one
  for (const c of rows.filter((c) => c.objectKey)) {
    for await (const piece of await store.get(c.objectKey as string)) hash.update(piece as Buffer);
  }
  const expected = createHash('sha256')
    .update(file.subarray(25 * MiB, 27 * MiB))
    .digest('hex');
  expect(hash.digest('hex')).toBe(expected);
});

test('a range that partly overlaps a stored one is refused with nothing recorded', async () => {
  const file = randomBytes(4 * MiB);
  const id = await newUpload(file.length);
  await send(id, file, 0, 2 * MiB);
  await expect(send(id, file, MiB, 2 * MiB)).rejects.toMatchObject({ code: 'conflict' });
  const row = await prisma.upload.findUniqueOrThrow({ where: { id } });
  expect(row.received).toEqual([[0, 2 * MiB - 1]]);
  expect(await prisma.uploadChunk.count({ where: { uploadId: id } })).toBe(1);
});
