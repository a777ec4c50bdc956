import { randomUUID } from 'node:crypto';
/**
 * Fencing of conversion units against real PostgreSQL (a cloned test database): a converter that
 * lost its unit (its queue lock expired during a partition and another converter claimed the unit)
 * must not record a file, progress or a failure over the winner's. No queue is involved: the
 * lifecycle's unit functions only touch the database.
 */
import { createPrismaClient, type PrismaClient } from '@kiln/database';
import { createTestDatabase, seedJobRow, seedUnitRows, type TestDatabase } from '@kiln/database/testing';
import { noQueue as noQueueFor } from '@kiln/queue/testing';
import type { QueueProducer } from '@kiln/queue';
import { InMemoryObjectStore } from '@kiln/storage/testing';
import { Readable } from 'node:stream';
import { JobLifecycle, attemptsExhausted } from './job-lifecycle';

jest.setTimeout(30_000);

const noQueue = noQueueFor('the unit functions');

const file = (attempt: number) => ({
  objectKey: `outputs/j/o/${attempt}/clip.mp4`,
  filename: 'clip.mp4',
  size: BigInt(1000 + attempt),
  contentType: 'video/mp4',
  checksumSha256: String(attempt).repeat(64),
});

describe('JobLifecycle unit fencing (real PostgreSQL)', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  let lifecycle: JobLifecycle;

  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrismaClient({ url: db.url, poolSize: 4 });
    lifecycle = new JobLifecycle(prisma, noQueue, { attempts: 1, backoffMs: 1 });
  });
  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  /** A queued job with one unit (one input × one conversion), as startIfReady leaves it. */
  async function queuedUnit(): Promise<{ jobId: string; outputId: string }> {
    const jobId = await seedJobRow(prisma, { status: 'queued' });
    const { outputId } = await seedUnitRows(prisma, jobId);
    return { jobId, outputId };
  }

  const row = (id: string) => prisma.output.findUniqueOrThrow({ where: { id } });

  it('each claim is a new attempt with its own lease; the first claim moves the job to processing', async () => {
    const { jobId, outputId } = await queuedUnit();
    const first = await lifecycle.markUnitStarted(jobId, outputId);
    expect(first).toEqual({ lease: expect.any(String), attempt: 1 });
    expect((await prisma.job.findUniqueOrThrow({ where: { id: jobId } })).status).toBe('processing');
    const second = await lifecycle.markUnitStarted(jobId, outputId);
    expect(second).toEqual({ lease: expect.any(String), attempt: 2 });
    expect(second!.lease).not.toBe(first!.lease);
    expect(await row(outputId)).toMatchObject({ status: 'processing', attempt: 2, lease: second!.lease });
  });

  it('the converter that lost the unit cannot complete it, before or after the winner', async () => {
    const { jobId, outputId } = await queuedUnit();
    const loser = (await lifecycle.markUnitStarted(jobId, outputId))!;
    const winner = (await lifecycle.markUnitStarted(jobId, outputId))!; // the lock expired; another converter took over

    // The loser finishes first (it was partitioned, then healed): refused, nothing recorded.
    expect(await lifecycle.completeUnit(jobId, outputId, loser.lease, file(loser.attempt))).toBe(false);
    expect(await row(outputId)).toMatchObject({ status: 'processing', objectKey: null, size: null, progress: 0 });

    expect(await lifecycle.completeUnit(jobId, outputId, winner.lease, file(winner.attempt))).toBe(true);
    // The loser finishes last: still refused, the winner's file stays.
    expect(await lifecycle.completeUnit(jobId, outputId, loser.lease, file(loser.attempt))).toBe(false);
    // A repeat by the winner itself (a retried write) records nothing twice.
    expect(await lifecycle.completeUnit(jobId, outputId, winner.lease, file(9))).toBe(false);
    expect(await row(outputId)).toMatchObject({
      status: 'completed',
      progress: 100,
      attempt: 2,
      ...file(winner.attempt),
    });
    expect((await prisma.job.findUniqueOrThrow({ where: { id: jobId } })).progress).toBe(100);
  });

  it("the loser's progress and failure do not touch the winner's unit", async () => {
    const { jobId, outputId } = await queuedUnit();
    const loser = (await lifecycle.markUnitStarted(jobId, outputId))!;
    await lifecycle.reportProgress(jobId, outputId, 40, loser.lease);
    expect((await row(outputId)).progress).toBe(40);
    const winner = (await lifecycle.markUnitStarted(jobId, outputId))!;
    expect((await row(outputId)).progress).toBe(0);

    await lifecycle.reportProgress(jobId, outputId, 90, loser.lease);
    expect((await row(outputId)).progress).toBe(0);
    expect(await lifecycle.failUnit(jobId, outputId, 'internal', 'ffmpeg lost its input', loser.lease)).toBe(false);
    expect(await row(outputId)).toMatchObject({
      status: 'processing',
      error: null,
      errorCode: null,
      lease: winner.lease,
    });

    await lifecycle.reportProgress(jobId, outputId, 30, winner.lease);
    expect((await row(outputId)).progress).toBe(30);
    expect(await lifecycle.failUnit(jobId, outputId, 'unprocessable', 'not a video', winner.lease)).toBe(true);
    expect(await row(outputId)).toMatchObject({ status: 'failed', errorCode: 'unprocessable' });
    // Ended: neither lease can complete it, and it cannot be claimed again.
    expect(await lifecycle.completeUnit(jobId, outputId, winner.lease, file(winner.attempt))).toBe(false);
    expect(await lifecycle.markUnitStarted(jobId, outputId)).toBeNull();
  });

  it('a canceled job is not completed by the converter that still holds its unit', async () => {
    const { jobId, outputId } = await queuedUnit();
    const claim = (await lifecycle.markUnitStarted(jobId, outputId))!;
    // The gateway's cancel: the job first, its units a moment later (two statements).
    await prisma.job.update({ where: { id: jobId }, data: { status: 'canceled' } });
    expect(await lifecycle.completeUnit(jobId, outputId, claim.lease, file(claim.attempt))).toBe(false);
    expect(await row(outputId)).toMatchObject({ status: 'processing', objectKey: null });
    await prisma.output.update({ where: { id: outputId }, data: { status: 'canceled' } });
    expect(await lifecycle.markUnitStarted(jobId, outputId)).toBeNull();
  });

  it('without a lease (finalize: retries exhausted) a unit that has not ended is failed', async () => {
    const { jobId, outputId } = await queuedUnit();
    await lifecycle.markUnitStarted(jobId, outputId);
    expect(await lifecycle.failUnit(jobId, outputId, 'internal', 'the conversion stopped unexpectedly')).toBe(true);
    expect(await row(outputId)).toMatchObject({ status: 'failed', errorCode: 'internal' });
  });

  it('two converters racing to complete under the same claims: exactly one wins (its repeat, after a lost answer, is told it won)', async () => {
    const { jobId, outputId } = await queuedUnit();
    const a = (await lifecycle.markUnitStarted(jobId, outputId))!;
    const b = (await lifecycle.markUnitStarted(jobId, outputId))!;
    const results = await Promise.all([
      lifecycle.completeUnit(jobId, outputId, a.lease, file(a.attempt)),
      lifecycle.completeUnit(jobId, outputId, b.lease, file(b.attempt)),
      lifecycle.completeUnit(jobId, outputId, b.lease, file(b.attempt)),
    ]);
    // The holder of the latest claim wins; the same holder sending again (its first answer lost in
    // a database outage) learns that its file is the unit's, so it keeps it instead of deleting it.
    expect(results).toEqual([false, true, true]);
    expect(await lifecycle.completeUnit(jobId, outputId, b.lease, file(b.attempt + 1))).toBe(false);
    expect(await row(outputId)).toMatchObject({ status: 'completed', ...file(b.attempt) });
  });

  it('a job being canceled stops its holder: no heartbeat, no progress, no completion, no new claim', async () => {
    const { jobId, outputId } = await queuedUnit();
    const claim = (await lifecycle.markUnitStarted(jobId, outputId))!;
    expect(await lifecycle.heartbeat(jobId, outputId, claim.lease)).toBe(true);
    expect(await lifecycle.reportProgress(jobId, outputId, 20, claim.lease)).toBe(true);
    // The cancel's decision (the durable flag converters see even without the Redis message).
    await prisma.job.update({ where: { id: jobId }, data: { status: 'canceling' } });
    expect(await lifecycle.heartbeat(jobId, outputId, claim.lease)).toBe(false);
    expect(await lifecycle.reportProgress(jobId, outputId, 60, claim.lease)).toBe(false);
    expect(await lifecycle.completeUnit(jobId, outputId, claim.lease, file(claim.attempt))).toBe(false);
    expect(await lifecycle.markUnitStarted(jobId, outputId)).toBeNull();
    expect(await row(outputId)).toMatchObject({ status: 'processing', progress: 20, objectKey: null, attempt: 1 });
  });

  it('the heartbeat is the holder’s alone, and refreshes heartbeat_at', async () => {
    const { jobId, outputId } = await queuedUnit();
    const loser = (await lifecycle.markUnitStarted(jobId, outputId))!;
    const winner = (await lifecycle.markUnitStarted(jobId, outputId))!;
    await prisma.output.update({ where: { id: outputId }, data: { heartbeatAt: new Date(0) } });
    expect(await lifecycle.heartbeat(jobId, outputId, loser.lease)).toBe(false);
    expect((await row(outputId)).heartbeatAt).toEqual(new Date(0));
    expect(await lifecycle.heartbeat(jobId, outputId, winner.lease)).toBe(true);
    expect((await row(outputId)).heartbeatAt!.getTime()).toBeGreaterThan(Date.now() - 60_000);
  });

  it('finalize of a job being canceled changes nothing and sends no callback (the cancel sends job.canceled)', async () => {
    const { jobId, outputId } = await queuedUnit();
    await prisma.job.update({
      where: { id: jobId },
      data: { status: 'canceling', callback: 'http://127.0.0.1:9/hook' },
    });
    await prisma.output.update({ where: { id: outputId }, data: { status: 'canceled' } });
    // noQueue throws if anything is enqueued.
    expect(await lifecycle.finalize(jobId)).toEqual({ status: 'canceling', callbackEnqueued: false });
    expect(await prisma.delivery.count({ where: { jobId } })).toBe(0);
    expect((await prisma.job.findUniqueOrThrow({ where: { id: jobId } })).status).toBe('canceling');
  });

  it('claims are capped: past the last attempt the unit fails for good with a clear error', async () => {
    const capped = new JobLifecycle(prisma, noQueue, { attempts: 1, backoffMs: 1 }, undefined, { maxAttempts: 2 });
    const { jobId, outputId } = await queuedUnit();
    expect(await capped.markUnitStarted(jobId, outputId)).toMatchObject({ attempt: 1 });
    expect(await capped.markUnitStarted(jobId, outputId)).toMatchObject({ attempt: 2 });
    // Both attempts crashed (no outcome recorded); the third claim is refused and the unit fails.
    expect(await capped.markUnitStarted(jobId, outputId)).toBeNull();
    expect(await row(outputId)).toMatchObject({ status: 'failed', attempt: 2, ...errorOf(attemptsExhausted(2)) });
  });

  it('a start told its input kind was read still reads the kind of another ready input whose reading failed', async () => {
    const store = new InMemoryObjectStore();
    const flows: { engine: string }[][] = [];
    const producer = {
      enqueueConversionFlow: async (_job: string, units: { engine: string }[]) => void flows.push(units),
    } as unknown as QueueProducer;
    const starter = new JobLifecycle(prisma, producer, { attempts: 1, backoffMs: 1 }, undefined, undefined, store);
    const jobId = await seedJobRow(prisma, { status: 'incomplete' });
    // A PNG's signature: the first input's kind was never read (its reading failed when it became ready).
    const png = Buffer.from('89504e470d0a1a0a0000000d494844520000000100000001080600000000', 'hex');
    await store.put(`inputs/${jobId}/a.bin`, Readable.from([png]), { size: png.length });
    const unread = randomUUID();
    await prisma.input.create({
      data: {
        id: unread,
        jobId,
        type: 'upload',
        status: 'ready',
        objectKey: `inputs/${jobId}/a.bin`,
        size: png.length,
      },
    });
    await prisma.input.create({
      data: { id: randomUUID(), jobId, type: 'upload', status: 'ready', objectKey: 'k', kind: 'image', format: 'png' },
    });
    await prisma.conversion.create({ data: { id: randomUUID(), jobId, target: 'webp', category: 'image' } });

    expect(await starter.startIfReady(jobId, { kindRead: true })).toBe(2);
    expect(await prisma.input.findUniqueOrThrow({ where: { id: unread } })).toMatchObject({
      kind: 'image',
      format: 'png',
    });
    const engines = await prisma.output.findMany({ where: { jobId }, select: { engine: true } });
    expect(engines).toEqual([{ engine: 'vips' }, { engine: 'vips' }]);
    expect(flows.flat().map((u) => u.engine)).toEqual(['vips', 'vips']);
  });
});

function errorOf(e: { code: string; message: string }) {
  return { errorCode: e.code, error: e.message };
}
