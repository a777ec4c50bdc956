/**
 * The reconciler against real PostgreSQL and real Redis (BullMQ under a unique prefix): the state
 * each test seeds is what a Redis that lost its data leaves behind (rows in PostgreSQL, nothing in the
 * queues), and the assertions read the queues and the rows back. `now` is passed in, so the grace
 * period is crossed without waiting.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { Worker } from 'bullmq';
import { jobIdFor, QueueName } from '@kiln/contracts';
import { createRedis } from '@kiln/queue';
import { deliveryIdFor } from '@kiln/workflow';
import {
  GRACE_MS,
  convertId,
  seedJob,
  startLedgerServices,
  stopLedgerServices,
  type LedgerServices,
} from './testing/ledger-fixtures';

jest.setTimeout(60_000);

let s: LedgerServices;
beforeAll(async () => {
  s = await startLedgerServices();
});
afterAll(() => stopLedgerServices(s));
beforeEach(async () => {
  // Each test starts from an empty ledger and empty queues.
  await s.prisma.job.deleteMany();
  for (const name of Object.values(QueueName)) await s.producer.queue(name).obliterate({ force: true });
});

const now = () => new Date();
const state = (queue: QueueName, id: string) => s.producer.queue(queue).getJobState(id);
const HOOK = 'http://127.0.0.1:9/hook';

describe('Reconciler: PostgreSQL says it should move, Redis has nothing', () => {
  it('re-drives the lost units of a processing job as one flow, once, and a second pass adds nothing', async () => {
    const t = now();
    const job = await seedJob(s.prisma, t, {
      units: [{ status: 'processing', beatAgoS: 90 }, { status: 'queued' }, { status: 'completed' }],
    });
    const counts = await s.reconciler().pass(t);
    expect(counts.units).toBe(1);
    // Only the two open units are sent, under the job's finalize parent.
    expect(await state('convert', convertId(job.units[0]))).toBe('waiting');
    expect(await state('convert', convertId(job.units[1]))).toBe('waiting');
    expect(await state('convert', convertId(job.units[2]))).toBe('unknown');
    expect(await state('finalize', jobIdFor('finalize', { jobId: job.jobId }))).toBe('waiting-children');
    const again = await s.reconciler().pass(t);
    expect(again.units).toBe(0);
    expect(await s.producer.queue('convert').count()).toBe(2);
    const metric = await s.metrics.reconcilerRepairs.get();
    expect(metric.values.find((v) => v.labels.repair === 'units')?.value).toBeGreaterThanOrEqual(1);
  });

  it('leaves a job alone while a unit has a fresh heartbeat (its converter still runs it), and while work is young', async () => {
    const t = now();
    const beating = await seedJob(s.prisma, t, {
      units: [{ status: 'processing', beatAgoS: 5 }, { status: 'queued' }],
    });
    const young = await seedJob(s.prisma, t, { status: 'queued', units: [{ status: 'queued' }], startedAgoS: 5 });
    const counts = await s.reconciler().pass(t);
    expect(counts.units).toBe(0);
    for (const u of [...beating.units, ...young.units]) expect(await state('convert', convertId(u))).toBe('unknown');
  });

  it('replaces history entries that block a unit’s fixed id (Redis kept a completed entry, PostgreSQL says not done)', async () => {
    const t = now();
    const job = await seedJob(s.prisma, t, { units: [{ status: 'processing', beatAgoS: 120 }] });
    const id = convertId(job.units[0]);
    // A worker that ran the unit's entry to completion without recording anything (as before a loss).
    const connection = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'worker');
    const worker = new Worker('convert', async () => 'skipped', {
      connection,
      prefix: s.prefix,
      autorun: false,
    });
    const done = new Promise((resolve) => worker.on('completed', resolve));
    await s.producer.queue('convert').add('convert', job.units[0], { jobId: id });
    void worker.run();
    await done;
    await worker.close();
    connection.disconnect();
    expect(await state('convert', id)).toBe('completed');
    expect((await s.reconciler().pass(t)).units).toBe(1);
    expect(await state('convert', id)).toBe('waiting');
  });

  it('finalizes a job whose units all ended but whose finalize was lost, and creates its callback delivery', async () => {
    const t = now();
    const job = await seedJob(s.prisma, t, {
      units: [{ status: 'completed' }, { status: 'failed' }],
      callback: HOOK,
    });
    const counts = await s.reconciler().pass(t);
    expect(counts.finalize).toBe(1);
    const row = await s.prisma.job.findUniqueOrThrow({ where: { id: job.jobId } });
    expect(row.status).toBe('failed');
    const deliveryId = deliveryIdFor(job.jobId, 'job.failed');
    expect(await s.prisma.delivery.findUnique({ where: { deliveryId } })).toMatchObject({ state: 'pending' });
    expect(await state('callback', jobIdFor('callback', { jobId: job.jobId, event: 'job.failed', deliveryId }))).toBe(
      'waiting',
    );
  });

  it('resumes a pending delivery whose queue entry was lost (same delivery id), and leaves a delayed one alone', async () => {
    const t = now();
    const lost = await seedJob(s.prisma, t, { status: 'completed', units: [{ status: 'completed' }], callback: HOOK });
    const backingOff = await seedJob(s.prisma, t, {
      status: 'completed',
      units: [{ status: 'completed' }],
      callback: HOOK,
    });
    const old = new Date(t.getTime() - 2 * GRACE_MS);
    for (const j of [lost, backingOff])
      await s.prisma.delivery.create({
        data: {
          deliveryId: deliveryIdFor(j.jobId, 'job.completed'),
          jobId: j.jobId,
          event: 'job.completed',
          attempts: 2,
          updatedAt: old,
        },
      });
    const delayed = {
      jobId: backingOff.jobId,
      event: 'job.completed' as const,
      deliveryId: deliveryIdFor(backingOff.jobId, 'job.completed'),
    };
    await s.producer.enqueue('callback', delayed, { delay: 60_000 });
    const counts = await s.reconciler().pass(t);
    expect(counts.callback).toBe(1);
    const resumed = await s.producer.queue('callback').getJob(
      jobIdFor('callback', {
        jobId: lost.jobId,
        event: 'job.completed',
        deliveryId: deliveryIdFor(lost.jobId, 'job.completed'),
      }),
    );
    expect(resumed?.data).toEqual({
      jobId: lost.jobId,
      event: 'job.completed',
      deliveryId: deliveryIdFor(lost.jobId, 'job.completed'),
    });
    expect(await state('callback', jobIdFor('callback', delayed))).toBe('delayed');
    expect(await s.prisma.delivery.count({ where: { jobId: { in: [lost.jobId, backingOff.jobId] } } })).toBe(2);
  });

  it('sends the callback of an ended job whose event never reached the outbox (a crash right after the end)', async () => {
    const t = now();
    const job = await seedJob(s.prisma, t, { status: 'completed', units: [{ status: 'completed' }], callback: HOOK });
    await s.prisma.job.update({ where: { id: job.jobId }, data: { finishedAt: new Date(t.getTime() - 2 * GRACE_MS) } });
    expect((await s.reconciler().pass(t))['missing-callback']).toBe(1);
    expect(await s.prisma.delivery.findMany({ where: { jobId: job.jobId } })).toMatchObject([
      { event: 'job.completed', state: 'pending', deliveryId: deliveryIdFor(job.jobId, 'job.completed') },
    ]);
    expect((await s.reconciler().pass(t))['missing-callback']).toBe(0);
  });

  it('notify_status: resumes a lost intermediate delivery by its own id; only the final event counts as the job’s callback', async () => {
    const t = now();
    const job = await seedJob(s.prisma, t, { status: 'completed', units: [{ status: 'completed' }], callback: HOOK });
    const old = new Date(t.getTime() - 2 * GRACE_MS);
    await s.prisma.job.update({ where: { id: job.jobId }, data: { notifyStatus: true, finishedAt: old } });
    // job.queued was delivered, job.processing is pending with its queue entry lost, job.completed never
    // reached the outbox (a crash right after the end).
    for (const [event, state] of [
      ['job.queued', 'delivered'],
      ['job.processing', 'pending'],
    ] as const)
      await s.prisma.delivery.create({
        data: {
          deliveryId: deliveryIdFor(job.jobId, event),
          jobId: job.jobId,
          event,
          state,
          attempts: 1,
          updatedAt: old,
        },
      });

    const counts = await s.reconciler().pass(t);
    expect([counts.callback, counts['missing-callback']]).toEqual([1, 1]);
    const queued = await s.producer.queue('callback').getJobs(['waiting', 'prioritized', 'delayed']);
    expect(queued.map((q) => q.data).sort((a, b) => a.event.localeCompare(b.event))).toEqual([
      { jobId: job.jobId, event: 'job.completed', deliveryId: deliveryIdFor(job.jobId, 'job.completed') },
      { jobId: job.jobId, event: 'job.processing', deliveryId: deliveryIdFor(job.jobId, 'job.processing') },
    ]);
    const rows = await s.prisma.delivery.findMany({ where: { jobId: job.jobId }, orderBy: { event: 'asc' } });
    expect(rows.map((r) => [r.event, r.state])).toEqual([
      ['job.completed', 'pending'],
      ['job.processing', 'pending'],
      ['job.queued', 'delivered'],
    ]);
    // A second pass adds nothing: both are live in the queue, and the final event is in the outbox.
    const again = await s.reconciler().pass(t);
    expect([again.callback, again['missing-callback']]).toEqual([0, 0]);
    expect(await s.producer.queue('callback').getJobCounts('waiting', 'prioritized', 'delayed')).toEqual({
      waiting: 2,
      prioritized: 0,
      delayed: 0,
    });
  });

  it('finishes a cancel left canceling: outputs canceled, files removed, canceled, one callback delivery', async () => {
    const t = now();
    const job = await seedJob(s.prisma, t, {
      status: 'canceling',
      units: [{ status: 'processing', beatAgoS: 90 }, { status: 'completed' }],
      callback: HOOK,
    });
    await s.prisma.job.update({ where: { id: job.jobId }, data: { modifiedAt: new Date(t.getTime() - 2 * GRACE_MS) } });
    await s.store.put(`outputs/${job.jobId}/x/1/out.mp3`, Readable.from([Buffer.from('abc')]));
    const counts = await s.reconciler().pass(t);
    expect(counts.cancel).toBe(1);
    expect(counts.units).toBe(0);
    expect(await s.prisma.job.findUniqueOrThrow({ where: { id: job.jobId } })).toMatchObject({ status: 'canceled' });
    expect((await s.prisma.output.findMany({ where: { jobId: job.jobId } })).map((o) => o.status).sort()).toEqual([
      'canceled',
      'completed',
    ]);
    expect(s.store.keys().filter((k) => k.startsWith(`outputs/${job.jobId}/`))).toEqual([]);
    expect(await s.prisma.delivery.findMany({ where: { jobId: job.jobId } })).toMatchObject([
      { event: 'job.canceled' },
    ]);
  });

  it('two reconcilers at once repair each job once', async () => {
    const t = now();
    const jobs = await Promise.all(
      Array.from({ length: 6 }, () => seedJob(s.prisma, t, { units: [{ status: 'queued' }, { status: 'queued' }] })),
    );
    const [a, b] = await Promise.all([s.reconciler().pass(t), s.reconciler().pass(t)]);
    expect(a.units + b.units).toBe(6);
    expect(await s.producer.queue('convert').count()).toBe(12);
    for (const j of jobs) for (const u of j.units) expect(await state('convert', convertId(u))).toBe('waiting');
  });

  it('registers the maintenance schedulers again when Redis lost them', async () => {
    const t = now();
    const registered = (await s.reconciler().pass(t)).schedule;
    expect(registered).toBeGreaterThanOrEqual(3);
    expect((await s.reconciler().pass(t)).schedule).toBe(0);
    const keys = (await s.producer.queue('maintenance').getJobSchedulers()).map((j) => j.key);
    expect(keys).toHaveLength(registered);
    expect(keys).toEqual(expect.arrayContaining(['expire-uploads', 'requeue-queued', 'stale-multipart']));
  });

  it('before a job starts: re-drives a lost assembly and a lost download, and starts a job whose inputs settled', async () => {
    const t = now();
    const old = new Date(t.getTime() - 2 * GRACE_MS);
    const owner = 'a'.repeat(64);
    const waiting = await seedJob(s.prisma, t, { status: 'downloading', units: [] });
    const uploadId = randomUUID();
    await s.prisma.upload.create({
      data: {
        id: uploadId,
        ownerKeyHash: owner,
        jobId: waiting.jobId,
        filename: 'a.wav',
        size: BigInt(10),
        receivedBytes: BigInt(10),
        status: 'complete',
        createdAt: old,
      },
    });
    const remote = await s.prisma.input.create({
      data: {
        id: randomUUID(),
        jobId: waiting.jobId,
        type: 'remote',
        source: 'https://example.test/a.wav',
        status: 'pending',
        createdAt: old,
      },
    });
    // Downloading right now (its entry lost with Redis): not doubled before KILN_FETCH_MAX_SECONDS.
    const running = await s.prisma.input.create({
      data: {
        id: randomUUID(),
        jobId: waiting.jobId,
        type: 'remote',
        source: 'https://example.test/b.wav',
        status: 'uploading',
        createdAt: old,
      },
    });
    const settled = await seedJob(s.prisma, t, { status: 'downloading', units: [] });
    await s.prisma.input.create({
      data: {
        id: randomUUID(),
        jobId: settled.jobId,
        type: 'upload',
        status: 'ready',
        objectKey: `inputs/${settled.jobId}/x/in.wav`,
      },
    });
    await s.prisma.conversion.create({
      data: { id: randomUUID(), jobId: settled.jobId, target: 'mp3', category: 'audio' },
    });
    await s.prisma.job.update({ where: { id: settled.jobId }, data: { startedAt: null, modifiedAt: old } });

    const counts = await s.reconciler().pass(t);
    expect(counts).toMatchObject({ assembly: 1, fetch: 1, start: 1 });
    expect(await state('assemble', jobIdFor('assemble', { uploadId }))).toBe('waiting');
    expect(await state('fetch', jobIdFor('fetch', { jobId: waiting.jobId, inputId: remote.id }))).toBe('waiting');
    expect(await state('fetch', jobIdFor('fetch', { jobId: waiting.jobId, inputId: running.id }))).toBe('unknown');
    expect(await s.prisma.job.findUniqueOrThrow({ where: { id: settled.jobId } })).toMatchObject({ status: 'queued' });
    expect(await s.prisma.output.count({ where: { jobId: settled.jobId } })).toBe(1);
    expect(await s.producer.queue('convert').count()).toBe(1);
    // Nothing more on the next pass: every entry is live now.
    expect(await s.reconciler().pass(t)).toMatchObject({ assembly: 0, fetch: 0, start: 0, units: 0 });
  });
});
