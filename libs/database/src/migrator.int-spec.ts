import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, mkdir, writeFile, cp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { DEFAULT_MIGRATIONS_DIR, ensureDatabase, listMigrations, migrate } from './migrator';
import { createPrismaClient, type PrismaClient } from './prisma';
import { adminUrl, createTestDatabase, databaseUrl, type TestDatabase } from './testing';

async function dropDatabase(name: string): Promise<void> {
  const c = new Client({ connectionString: adminUrl() });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await c.end();
}

describe('migrator (real PostgreSQL)', () => {
  const name = `kiln_tm_${randomBytes(4).toString('hex')}`;
  const url = databaseUrl(name);
  afterAll(() => dropDatabase(name));

  it('creates the database, applies every migration once, and records them as Prisma does', async () => {
    await ensureDatabase(url);
    await ensureDatabase(url); // second call is a no-op
    const first = await migrate(url);
    const all = (await listMigrations()).map((m) => m.name);
    expect(first.applied).toEqual(all);
    const second = await migrate(url);
    expect(second).toEqual({ applied: [], alreadyApplied: all });

    const c = new Client({ connectionString: url });
    await c.connect();
    const { rows } = await c.query(
      'SELECT migration_name, checksum, finished_at, applied_steps_count FROM "_prisma_migrations"',
    );
    await c.end();
    const checksums = new Map((await listMigrations()).map((m) => [m.name, m.checksum]));
    expect(rows).toHaveLength(all.length);
    for (const r of rows) {
      expect(r.checksum).toBe(checksums.get(r.migration_name));
      expect(r.finished_at).toBeInstanceOf(Date);
      expect(r.applied_steps_count).toBe(1);
    }
  });

  it('runs concurrently without applying anything twice', async () => {
    const other = `kiln_tm_${randomBytes(4).toString('hex')}`;
    const otherUrl = databaseUrl(other);
    try {
      await ensureDatabase(otherUrl);
      const results = await Promise.all([migrate(otherUrl), migrate(otherUrl), migrate(otherUrl)]);
      const appliedCount = results.reduce((n, r) => n + r.applied.length, 0);
      expect(appliedCount).toBe((await listMigrations()).length);
    } finally {
      await dropDatabase(other);
    }
  });

  it('refuses a migration edited after it was applied, and rolls back a failing one', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-mig-'));
    await cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
    const first = (await listMigrations(dir))[0].name;
    await writeFile(path.join(dir, first, 'migration.sql'), `${(await listMigrations(dir))[0].sql}\n-- edited`);
    await expect(migrate(url, dir)).rejects.toThrow(/changed after it was applied/);

    const dir2 = await mkdtemp(path.join(os.tmpdir(), 'kiln-mig-'));
    await cp(DEFAULT_MIGRATIONS_DIR, dir2, { recursive: true });
    await mkdir(path.join(dir2, '29991231000000_broken'));
    await writeFile(
      path.join(dir2, '29991231000000_broken', 'migration.sql'),
      'CREATE TABLE "kiln_probe" (id int); SELECT no_such_function();',
    );
    await expect(migrate(url, dir2)).rejects.toThrow(/29991231000000_broken failed/);
    const c = new Client({ connectionString: url });
    await c.connect();
    const probe = await c.query("SELECT to_regclass('kiln_probe') AS t");
    const recorded = await c.query('SELECT 1 FROM "_prisma_migrations" WHERE migration_name = $1', [
      '29991231000000_broken',
    ]);
    await c.end();
    expect(probe.rows[0].t).toBeNull();
    expect(recorded.rowCount).toBe(0);
  });
});

describe('schema.prisma and the SQL migrations agree (every model written and read back)', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrismaClient({ url: db.url, poolSize: 2 });
  });
  afterAll(async () => {
    await prisma.$disconnect();
    await db.drop();
  });

  it('round-trips every model with every field set', async () => {
    const now = new Date('2026-01-02T03:04:05.678Z');
    const sha = 'a'.repeat(64);
    const job = await prisma.job.create({
      data: {
        id: randomUUID(),
        ownerKeyHash: sha,
        token: 'b'.repeat(32),
        status: 'processing',
        statusInfo: 'converting',
        process: false,
        callback: 'https://example.test/hook',
        tag: 'label',
        progress: 42,
        errors: [{ code: 'x', message: 'y', source: 'input' }],
        startedAt: now,
        finishedAt: now,
      },
    });
    const input = await prisma.input.create({
      data: {
        id: randomUUID(),
        jobId: job.id,
        type: 'upload',
        source: 'upload',
        filename: 'a.wav',
        size: 5_000_000_000n,
        contentType: 'audio/wav',
        checksumSha256: sha,
        objectKey: 'inputs/x',
        status: 'ready',
        error: null,
        media: { duration_s: 1.5 },
        readyAt: now,
      },
    });
    const conversion = await prisma.conversion.create({
      data: {
        id: randomUUID(),
        jobId: job.id,
        target: 'mp3',
        category: 'audio',
        options: { audio_bitrate: 128 },
        status: 'completed',
        progress: 100,
        error: 'none',
      },
    });
    const output = await prisma.output.create({
      data: {
        id: randomUUID(),
        jobId: job.id,
        conversionId: conversion.id,
        inputId: input.id,
        status: 'completed',
        progress: 100,
        errorCode: null,
        error: null,
        objectKey: 'outputs/x',
        filename: 'a.mp3',
        size: 123n,
        contentType: 'audio/mpeg',
        checksumSha256: sha,
        startedAt: now,
        finishedAt: now,
        attempt: 2,
        lease: randomUUID(),
      },
    });
    const delivery = await prisma.callbackDelivery.create({
      data: {
        id: randomUUID(),
        jobId: job.id,
        deliveryId: randomUUID(),
        event: 'job.completed',
        url: 'https://example.test/hook',
        attempt: 1,
        statusCode: 200,
        error: null,
        durationMs: 12,
      },
    });
    const upload = await prisma.upload.create({
      data: {
        id: randomUUID(),
        ownerKeyHash: sha,
        jobId: job.id,
        inputId: input.id,
        clientUploadId: 'u1',
        filename: 'a.wav',
        size: 6_000_000_000n,
        contentType: 'audio/wav',
        checksumSha256: sha,
        receivedBytes: 10n,
        status: 'uploading',
        error: null,
        objectKey: 'inputs/y',
        expiresAt: now,
        completedAt: now,
        tusMetadata: 'filename YS53YXY=',
        lengthDeferred: true,
      },
    });
    const chunk = await prisma.uploadChunk.create({
      data: {
        id: randomUUID(),
        uploadId: upload.id,
        start: 0n,
        end: 5_368_709_119n,
        sha256: sha,
        etag: 'c'.repeat(32),
        objectKey: 'chunks/u/0-1',
      },
    });

    const back = await prisma.job.findUniqueOrThrow({
      where: { id: job.id },
      include: {
        inputs: true,
        conversions: true,
        outputs: true,
        deliveries: true,
        uploads: { include: { chunks: true } },
      },
    });
    expect(back).toMatchObject({ ...job, modifiedAt: expect.any(Date) });
    expect(back.inputs).toEqual([input]);
    expect(back.conversions).toEqual([conversion]);
    expect(back.outputs).toEqual([output]);
    expect(back.deliveries).toEqual([delivery]);
    expect(back.uploads).toEqual([{ ...upload, chunks: [chunk] }]);

    // Unique constraints declared in the schema exist in SQL.
    await expect(
      prisma.output.create({
        data: { id: randomUUID(), jobId: job.id, conversionId: conversion.id, inputId: input.id },
      }),
    ).rejects.toThrow();
    await expect(
      prisma.uploadChunk.create({
        data: { id: randomUUID(), uploadId: upload.id, start: 0n, end: 5_368_709_119n, sha256: sha, objectKey: 'k' },
      }),
    ).rejects.toThrow();
    // Cascades: deleting the job removes everything under it.
    await prisma.job.delete({ where: { id: job.id } });
    expect(await prisma.uploadChunk.count()).toBe(0);
    expect(await prisma.output.count()).toBe(0);
  });
});
