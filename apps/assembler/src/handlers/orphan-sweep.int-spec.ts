/**
 * The orphan sweep against real PostgreSQL and S3 (radosgw): objects under Kiln's prefixes whose job
 * or upload has no row are deleted once older than the minimum age; objects a row owns, young ones,
 * keys not of Kiln's layout and keys outside its prefixes stay. The bucket's own LastModified times
 * are the ages: the runs are given a clock ahead of them rather than waiting.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createPrismaClient, type PrismaClient } from '@kiln/database';
import { createTestDatabase, type TestDatabase } from '@kiln/database/testing';
import { createLogger } from '@kiln/observability';
import { MinioObjectStore, objectKeys } from '@kiln/storage';
import { minioObjectStoreOptionsFromEnv } from '@kiln/storage/testing';
import type { JobLifecycle } from '@kiln/workflow';
import { MaintenanceHandler } from './maintenance.handler';
import { OrphanSweep } from './orphan-sweep';
import { OWNER, allKeys, putObject, seedJob } from './testing/retention-fixtures';

jest.setTimeout(120_000);

const HOUR_S = 3600;
const log = createLogger('orphan-test', 'silent');
let db: TestDatabase;
let prisma: PrismaClient;
let store: MinioObjectStore;

beforeAll(async () => {
  db = await createTestDatabase();
  prisma = createPrismaClient({ url: db.url, poolSize: 4 });
  store = new MinioObjectStore({
    ...minioObjectStoreOptionsFromEnv(process.env),
    bucket: `kiln-orph-${randomBytes(5).toString('hex')}`,
  });
  await store.ensureBucket();
});

// Each test starts from an empty bucket and database.
afterEach(async () => {
  for await (const o of store.list('')) await store.remove(o.key);
  await prisma.job.deleteMany({});
  await prisma.upload.deleteMany({});
});

afterAll(async () => {
  for await (const o of store.list('')) await store.remove(o.key);
  await store.abortStaleUploads(new Date(Date.now() + HOUR_S * 1000));
  await prisma.$disconnect();
  await db.drop();
});

/** A clock `hours` ahead of now: every object written so far is that old to the sweep. */
const later = (hours: number) => new Date(Date.now() + hours * HOUR_S * 1000);

describe('sweep-orphans', () => {
  it('deletes only old objects no job or upload row owns', async () => {
    // Owned: a job's files and its uploads' (seedJob), a standalone upload session's chunk and file.
    const job = await seedJob(prisma, store);
    const session = randomUUID();
    await prisma.upload.create({
      data: { id: session, ownerKeyHash: OWNER, filename: 'a.bin', size: 64n, status: 'complete' },
    });
    const sessionKeys = [objectKeys.chunk(session, 0, 31), objectKeys.upload(session, 'a.bin')];
    // A standalone upload's file that became a job's input: its upload row is gone, an input names it.
    const [adoptedUpload, adopter] = [randomUUID(), await seedJob(prisma, store)];
    const adoptedKey = objectKeys.assembledUpload(adoptedUpload, 'b.mov');
    await prisma.input.create({
      data: { id: randomUUID(), jobId: adopter.id, type: 'upload', source: 'upload', objectKey: adoptedKey },
    });
    // Rowless: a deleted job's input and outputs, a deleted upload's chunks and file.
    const [goneJob, goneUpload] = [randomUUID(), randomUUID()];
    const orphans = [
      objectKeys.input(goneJob, randomUUID(), 'in.wav'),
      objectKeys.output(goneJob, randomUUID(), 0, 'in.mp3'),
      objectKeys.output(goneJob, randomUUID(), 1, 'in.mp3'),
      objectKeys.chunk(goneUpload, 0, 9),
      objectKeys.chunk(goneUpload, 10, 19),
      objectKeys.upload(goneUpload, 'c.bin'),
      objectKeys.assembledUpload(goneUpload, 'c.bin'),
    ];
    // Not Kiln's layout, or outside its prefixes: never touched.
    const foreign = ['inputs/not-a-job/x.bin', 'uploads/readme.txt', 'backups/2026/db.dump'];
    for (const key of [...sessionKeys, adoptedKey, ...orphans, ...foreign]) await putObject(store, key);
    const before = await allKeys(store);
    expect(before).toHaveLength(
      job.keys.length + adopter.keys.length + sessionKeys.length + 1 + orphans.length + foreign.length,
    );

    const sweep = new OrphanSweep(prisma, store, log, { minAgeSeconds: 2 * HOUR_S, pageSize: 3 });
    // Young: nothing is deleted, orphans included.
    expect(await sweep.run()).toMatchObject({ deleted: 0 });
    expect(await sweep.run(later(1))).toMatchObject({ deleted: 0 });
    expect(await allKeys(store)).toEqual(before);

    // Old enough: exactly the rowless ones go (the listing read in pages of 3 old objects).
    const result = await sweep.run(later(3));
    expect(result).toEqual({ listed: before.length - 1, deleted: orphans.length, foreign: 2 });
    expect(await allKeys(store)).toEqual(before.filter((k) => !orphans.includes(k)));

    // Again, and from two assemblers at once: nothing more to delete, nothing else touched.
    const other = new OrphanSweep(prisma, store, log, { minAgeSeconds: 2 * HOUR_S });
    const again = await Promise.all([sweep.run(later(3)), other.run(later(3))]);
    expect(again.map((r) => r.deleted)).toEqual([0, 0]);
    expect(await allKeys(store)).toEqual(before.filter((k) => !orphans.includes(k)));
  });

  it('runs as the maintenance task, with KILN_ORPHAN_MIN_AGE_SECONDS as the age', async () => {
    const key = objectKeys.output(randomUUID(), randomUUID(), 0, 'x.mp3');
    await putObject(store, key);
    const handler = (minAge: number) =>
      new MaintenanceHandler(prisma, store, log, {} as JobLifecycle, {
        KILN_JOB_RETENTION_SECONDS: 86_400,
        KILN_ORPHAN_MIN_AGE_SECONDS: minAge,
      });
    // A day old at the least: the object written a moment ago stays.
    const kept = await handler(86_400).handle({ task: 'sweep-orphans' });
    expect(kept).toMatchObject({ status: 'success', detail: expect.stringMatching(/ 0 orphans deleted/) });
    expect(await store.stat(key)).not.toBeNull();
    // The task takes the age from the configuration: set to 0 here (the configuration's floor is an hour).
    const swept = await handler(0).handle({ task: 'sweep-orphans' });
    expect(swept).toMatchObject({ status: 'success', detail: expect.stringMatching(/ 1 orphans deleted/) });
    expect(await store.stat(key)).toBeNull();
  });
});
