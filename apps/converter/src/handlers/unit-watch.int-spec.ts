/**
 * The converter's watch over a claimed unit against real PostgreSQL (a cloned test database) and the
 * real JobLifecycle: its heartbeat alone (no progress report) keeps `heartbeat_at` fresh, and stops
 * the unit when the job becomes `canceling` or another attempt claims the unit; that is how a
 * converter cut off from Redis, or busy downloading or uploading, hears it must stop.
 */
import { createPrismaClient, type PrismaClient } from '@kiln/database';
import { createTestDatabase, seedJobRow, seedUnitRows, type TestDatabase } from '@kiln/database/testing';
import { noQueue as noQueueFor } from '@kiln/queue/testing';
import { JobLifecycle } from '@kiln/workflow';
import { heartbeatPeriodMs, stopReason, UnitWatch } from './unit-watch';

jest.setTimeout(30_000);

const PERIOD_MS = 200;

describe('UnitWatch (real PostgreSQL)', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  let lifecycle: JobLifecycle;
  const watches: UnitWatch[] = [];
  const logged: { msg: string; fields: Record<string, unknown> }[] = [];
  const log = {
    info: (fields: Record<string, unknown>, msg: string) => void logged.push({ msg, fields }),
    warn: (fields: Record<string, unknown>, msg: string) => void logged.push({ msg, fields }),
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrismaClient({ url: db.url, poolSize: 4 });
    lifecycle = new JobLifecycle(prisma, noQueueFor('the unit watch'), { attempts: 1, backoffMs: 1 });
  });
  afterEach(() => {
    for (const w of watches.splice(0)) w.dispose();
  });
  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  /** A queued job with one unit, claimed once (as the converter does before it downloads). */
  async function claimedUnit() {
    const jobId = await seedJobRow(prisma, { status: 'queued' });
    const { outputId } = await seedUnitRows(prisma, jobId);
    const claim = (await lifecycle.markUnitStarted(jobId, outputId))!;
    return { jobId, outputId, lease: claim.lease };
  }

  function watch(unit: { jobId: string; outputId: string; lease: string }, beats?: () => void) {
    const w = new UnitWatch(unit, PERIOD_MS, {
      lifecycle,
      whyStopped: () => stopReason(prisma, unit.jobId),
      onBeat: beats,
      log,
    }).start();
    watches.push(w);
    return w;
  }

  const aborted = (w: UnitWatch) =>
    new Promise<number>((resolve) => {
      const from = Date.now();
      w.signal.addEventListener('abort', () => resolve(Date.now() - from), { once: true });
    });

  const heartbeatOf = async (outputId: string) =>
    (await prisma.output.findUniqueOrThrow({ where: { id: outputId } })).heartbeatAt!.getTime();

  it('beats while the unit is held: heartbeat_at moves, the folder is touched, nothing stops', async () => {
    const unit = await claimedUnit();
    const first = await heartbeatOf(unit.outputId);
    let beats = 0;
    const w = watch(unit, () => {
      beats++;
    });
    // Five periods with no progress report at all: only the heartbeat writes.
    for (let seen = first; beats < 5; ) {
      await new Promise((r) => setTimeout(r, PERIOD_MS));
      const now = await heartbeatOf(unit.outputId);
      expect(now).toBeGreaterThanOrEqual(seen);
      seen = now;
    }
    expect(await heartbeatOf(unit.outputId)).toBeGreaterThan(first);
    expect({ stopped: w.stopped, aborted: w.signal.aborted }).toEqual({ stopped: false, aborted: false });
  });

  it('stops within a beat or two once the job is canceling (no Redis message needed)', async () => {
    const unit = await claimedUnit();
    const w = watch(unit);
    const stopped = aborted(w);
    await prisma.job.update({ where: { id: unit.jobId }, data: { status: 'canceling' } });
    const ms = await stopped;
    expect(ms).toBeLessThan(3 * PERIOD_MS + 1000);
    expect(w.reason).toBe('job canceled');
    expect(String(w.signal.reason)).toMatch(/job canceled/);
    expect(logged.filter((l) => l.fields.outputId === unit.outputId).map((l) => l.msg)).toEqual([
      'unit stopped: PostgreSQL says it must',
    ]);
  });

  it('stops when another attempt claims the unit (its lease is gone)', async () => {
    const unit = await claimedUnit();
    const w = watch(unit);
    const stopped = aborted(w);
    const takeover = await lifecycle.markUnitStarted(unit.jobId, unit.outputId);
    expect(takeover).toMatchObject({ attempt: 2 });
    await stopped;
    expect(w.reason).toBe('lost the unit: it ended or another attempt holds it');
    // The winner's heartbeat is not the loser's to refresh.
    const row = await prisma.output.findUniqueOrThrow({ where: { id: unit.outputId } });
    expect(row.lease).toBe(takeover!.lease);
  });

  it('a progress report answered false stops it at once, between beats', async () => {
    const unit = await claimedUnit();
    const w = new UnitWatch(unit, 60_000, { lifecycle, whyStopped: () => stopReason(prisma, unit.jobId), log });
    watches.push(w.start());
    await prisma.job.update({ where: { id: unit.jobId }, data: { status: 'canceled' } });
    await w.answer(await lifecycle.reportProgress(unit.jobId, unit.outputId, 40, unit.lease));
    expect({ aborted: w.signal.aborted, reason: w.reason }).toEqual({ aborted: true, reason: 'job canceled' });
  });

  it('beats every quarter of the reconciler grace, between 200 ms and 5 s', () => {
    expect(heartbeatPeriodMs(30_000)).toBe(5_000);
    expect(heartbeatPeriodMs(8_000)).toBe(2_000);
    expect(heartbeatPeriodMs(100)).toBe(200);
  });
});
