/**
 * Expired jobs' data against real PostgreSQL and S3 (radosgw), through the maintenance handler's
 * `expire-jobs` task: rows counted before and after, objects looked up in the bucket, the unfinished
 * multipart upload asked for its parts. Jobs not ended, kept or not yet expired stay whole; two
 * runners at once delete each job once; a failure on one job leaves the others deleted.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { KilnError } from '@kiln/contracts';
import { createPrismaClient, type PrismaClient } from '@kiln/database';
import { createTestDatabase, type TestDatabase } from '@kiln/database/testing';
import { createLogger } from '@kiln/observability';
import { MinioObjectStore, type ObjectStore } from '@kiln/storage';
import { minioObjectStoreOptionsFromEnv } from '@kiln/storage/testing';
import type { JobLifecycle } from '@kiln/workflow';
import { JobRetention } from './job-retention';
import { MaintenanceHandler } from './maintenance.handler';
import { ROWS_PER_JOB, type SeededJob, existing, rowsOf, seedJob } from './testing/retention-fixtures';

jest.setTimeout(120_000);

const DAY_S = 24 * 3600;
const HOUR_MS = 3600 * 1000;
const log = createLogger('retention-test', 'silent');
let db: TestDatabase;
let prisma: PrismaClient;
let store: MinioObjectStore;

beforeAll(async () => {
  db = await createTestDatabase();
  prisma = createPrismaClient({ url: db.url, poolSize: 6 });
  store = new MinioObjectStore({
    ...minioObjectStoreOptionsFromEnv(process.env),
    bucket: `kiln-ret-${randomBytes(5).toString('hex')}`,
  });
  await store.ensureBucket();
});

// Each test starts from an empty jobs table (what one leaves cannot expire in the next).
afterEach(() => prisma.job.deleteMany({}));

afterAll(async () => {
  for await (const o of store.list('')) await store.remove(o.key);
  await store.abortStaleUploads(new Date(Date.now() + HOUR_MS));
  await prisma.$disconnect();
  await db.drop();
});

const handler = () =>
  new MaintenanceHandler(prisma, store, log, {} as JobLifecycle, {
    KILN_JOB_RETENTION_SECONDS: DAY_S,
    KILN_ORPHAN_MIN_AGE_SECONDS: DAY_S,
  });

/** Whether a multipart upload is still open (S3 lists its parts) or gone (aborted). */
async function multipartOpen(job: SeededJob): Promise<boolean> {
  try {
    await store.listParts(job.multipart.key, job.multipart.uploadId);
    return true;
  } catch (err: unknown) {
    if (err instanceof KilnError && err.code === 'not_found') return false;
    throw err;
  }
}

const times = (n: number, rows: Record<string, number>) =>
  Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, v * n]));

describe('expire-jobs', () => {
  it('deletes an expired job’s objects and rows, and leaves jobs not ended, kept or not yet expired', async () => {
    const expired = [
      await seedJob(prisma, store, { status: 'completed', endedHoursAgo: 25 }),
      await seedJob(prisma, store, { status: 'failed', endedHoursAgo: 48 }),
      await seedJob(prisma, store, { status: 'canceled', endedHoursAgo: 30 }),
      // Its own expires_at has passed, though the retention has not.
      await seedJob(prisma, store, { endedHoursAgo: 0.1, expiresAt: new Date(Date.now() - 1000) }),
    ];
    const kept = [
      // Not ended, its expires_at long past: never touched before it ends.
      await seedJob(prisma, store, {
        status: 'processing',
        endedHoursAgo: null,
        expiresAt: new Date(Date.now() - HOUR_MS),
      }),
      await seedJob(prisma, store, {
        status: 'canceling',
        endedHoursAgo: null,
        expiresAt: new Date(Date.now() - HOUR_MS),
      }),
      await seedJob(prisma, store, { status: 'queued', endedHoursAgo: null }),
      // Created with expires_at 0.
      await seedJob(prisma, store, { endedHoursAgo: 24 * 400, keepData: true }),
      // Ended within the retention.
      await seedJob(prisma, store, { endedHoursAgo: 23 }),
      // Its own expires_at is later than the retention.
      await seedJob(prisma, store, { endedHoursAgo: 48, expiresAt: new Date(Date.now() + HOUR_MS) }),
    ];
    const expiredIds = expired.map((j) => j.id);
    const keptIds = kept.map((j) => j.id);
    expect(await rowsOf(prisma, expiredIds)).toEqual(times(expired.length, ROWS_PER_JOB));

    // Idempotency keys: one past its 24 h (swept by the same task), one fresh (kept).
    const idem = { ownerKeyHash: 'a'.repeat(64), fingerprint: 'f'.repeat(64), claim: randomUUID(), state: 'done' };
    await prisma.idempotencyKey.create({
      data: { ...idem, key: 'old', createdAt: new Date(Date.now() - 25 * HOUR_MS) },
    });
    await prisma.idempotencyKey.create({
      data: { ...idem, key: 'fresh', createdAt: new Date(Date.now() - 23 * HOUR_MS) },
    });

    const outcome = await handler().handle({ task: 'expire-jobs' });
    expect(outcome).toEqual({
      status: 'success',
      detail: '4 expired jobs deleted, 0 failed, 1 idempotency keys expired',
    });
    expect((await prisma.idempotencyKey.findMany({ select: { key: true } })).map((k) => k.key)).toEqual(['fresh']);

    expect(await rowsOf(prisma, expiredIds)).toEqual(times(0, ROWS_PER_JOB));
    expect(
      await existing(
        store,
        expired.flatMap((j) => j.keys),
      ),
    ).toEqual([]);
    for (const j of expired) expect(await multipartOpen(j)).toBe(false);

    expect(await rowsOf(prisma, keptIds)).toEqual(times(kept.length, ROWS_PER_JOB));
    const keptKeys = kept.flatMap((j) => j.keys);
    expect(await existing(store, keptKeys)).toEqual(keptKeys);
    for (const j of kept) expect(await multipartOpen(j)).toBe(true);

    // Nothing more to do: a second run deletes nothing.
    expect(await handler().handle({ task: 'expire-jobs' })).toEqual({
      status: 'success',
      detail: '0 expired jobs deleted, 0 failed, 0 idempotency keys expired',
    });
  });

  it('follows KILN_JOB_RETENTION_SECONDS: a job ended 2 h ago expires with 1 h, not with a day', async () => {
    const job = await seedJob(prisma, store, { endedHoursAgo: 2 });
    expect((await new JobRetention(prisma, store, log, { retentionSeconds: DAY_S }).run()).deleted).toEqual([]);
    expect((await new JobRetention(prisma, store, log, { retentionSeconds: 3600 }).run()).deleted).toEqual([job.id]);
    expect(await rowsOf(prisma, [job.id])).toEqual(times(0, ROWS_PER_JOB));
    expect(await existing(store, job.keys)).toEqual([]);
  });

  it('deletes each job once when several assemblers run it at once, batch after batch', async () => {
    const jobs: SeededJob[] = [];
    for (let n = 0; n < 14; n++) jobs.push(await seedJob(prisma, store, { endedHoursAgo: 30 + n }));
    const ids = jobs.map((j) => j.id);
    // Each runner has its own connection pool, as separate assemblers do, and counts its deletions.
    const removals = new Map<string, number>();
    const runners = [0, 1, 2].map(() => {
      const client = createPrismaClient({ url: db.url, poolSize: 2 });
      const counted = countingStore(store, (prefix) => removals.set(prefix, (removals.get(prefix) ?? 0) + 1));
      return { client, retention: new JobRetention(client, counted, log, { retentionSeconds: DAY_S, batchSize: 4 }) };
    });
    try {
      const results = await Promise.all(runners.map((r) => r.retention.run()));
      const deleted = results.flatMap((r) => r.deleted);
      expect(results.flatMap((r) => r.failed)).toEqual([]);
      expect(deleted.sort()).toEqual([...ids].sort());
      // Every job's files were deleted by one runner only.
      for (const id of ids) expect(removals.get(`inputs/${id}/`)).toBe(1);
    } finally {
      for (const r of runners) await r.client.$disconnect();
    }
    expect(await rowsOf(prisma, ids)).toEqual(times(0, ROWS_PER_JOB));
    expect(
      await existing(
        store,
        jobs.flatMap((j) => j.keys),
      ),
    ).toEqual([]);
  });

  it('goes on past a job whose files cannot be deleted, and deletes it on the next run', async () => {
    const jobs = [
      await seedJob(prisma, store, { endedHoursAgo: 50 }),
      await seedJob(prisma, store, { endedHoursAgo: 49 }),
      await seedJob(prisma, store, { endedHoursAgo: 48 }),
    ];
    const [first, broken, last] = jobs;
    const failing = countingStore(store, (prefix) => {
      if (prefix === `outputs/${broken.id}/`) throw new Error('S3 answered 503');
    });
    const run = await new JobRetention(prisma, failing, log, { retentionSeconds: DAY_S }).run();
    expect(run).toEqual({ deleted: [first.id, last.id], failed: [broken.id] });
    expect(await rowsOf(prisma, [broken.id])).toEqual(ROWS_PER_JOB);
    expect(await rowsOf(prisma, [first.id, last.id])).toEqual(times(0, ROWS_PER_JOB));

    const again = await new JobRetention(prisma, store, log, { retentionSeconds: DAY_S }).run();
    expect(again).toEqual({ deleted: [broken.id], failed: [] });
    expect(await rowsOf(prisma, [broken.id])).toEqual(times(0, ROWS_PER_JOB));
    expect(
      await existing(
        store,
        jobs.flatMap((j) => j.keys),
      ),
    ).toEqual([]);
  });
});

/** The store, with `onRemovePrefix` called before each removePrefix (it may throw to fail it). */
function countingStore(inner: ObjectStore, onRemovePrefix: (prefix: string) => void): ObjectStore {
  return new Proxy(inner, {
    get(target, property) {
      if (property === 'removePrefix')
        return async (prefix: string) => {
          onRemovePrefix(prefix);
          return target.removePrefix(prefix);
        };
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
