/**
 * Cancel as a state machine against real PostgreSQL and real Redis (BullMQ under a unique prefix):
 * a step that fails leaves the job `canceling`; running the cancel again (a repeated DELETE, or the
 * reconciler) finishes it, once. Storage is the in-memory ObjectStore (the ObjectStore contract
 * suite runs the real S3 adapter), made to fail when a test says so.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { QueueName, jobIdFor } from '@kiln/contracts';
import { createPrismaClient, type PrismaClient } from '@kiln/database';
import { createTestDatabase, seedJobRow, type TestDatabase } from '@kiln/database/testing';
import { QueueProducer, createRedis, type RedisClient } from '@kiln/queue';
import { InMemoryObjectStore } from '@kiln/storage/testing';
import { JobCancellation } from './job-cancel';
import { JobLifecycle, deliveryIdFor } from './job-lifecycle';

jest.setTimeout(30_000);

/** Storage that is unreachable while `down` is set (a 503 from S3, say). */
class FlakyStore extends InMemoryObjectStore {
  down = false;
  override async removePrefix(prefix: string): Promise<number> {
    if (this.down) throw new Error('S3 answered 503 Slow Down');
    return super.removePrefix(prefix);
  }
}

let db: TestDatabase;
let prisma: PrismaClient;
let redis: RedisClient;
let producer: QueueProducer;
const store = new FlakyStore();
let lifecycle: JobLifecycle;
let cancellation: JobCancellation;
const failures: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  prisma = createPrismaClient({ url: db.url, poolSize: 4 });
  redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'client');
  producer = new QueueProducer(redis, `kiln-cancel-${randomBytes(4).toString('hex')}`);
  lifecycle = new JobLifecycle(prisma, producer, { attempts: 3, backoffMs: 10 });
  cancellation = new JobCancellation(prisma, producer, store, lifecycle, (_id, step) => failures.push(step));
});
afterAll(async () => {
  for (const name of Object.values(QueueName)) await producer?.queue(name).obliterate({ force: true });
  await producer?.close();
  redis?.disconnect();
  await prisma?.$disconnect();
  await db?.drop();
});

/** A processing job with a queued unit (its convert entry waiting in Redis) and a stored output of another unit. */
async function runningJob(): Promise<{ jobId: string; queuedUnit: string; outputKey: string }> {
  const jobId = await seedJobRow(prisma, {
    status: 'processing',
    callback: 'http://127.0.0.1:9/hook',
    startedAt: new Date(),
  });
  const ids: string[] = [];
  for (const status of ['queued', 'completed']) {
    const inputId = randomUUID();
    const conversionId = randomUUID();
    const outputId = randomUUID();
    await prisma.input.create({
      data: { id: inputId, jobId, type: 'upload', status: 'ready', objectKey: `inputs/${jobId}/${inputId}/in.wav` },
    });
    await prisma.conversion.create({ data: { id: conversionId, jobId, target: 'mp3', category: 'audio' } });
    await prisma.output.create({ data: { id: outputId, jobId, inputId, conversionId, status } });
    if (status === 'queued') await producer.enqueue('convert', { jobId, inputId, conversionId, outputId });
    ids.push(outputId);
  }
  const outputKey = `outputs/${jobId}/${ids[1]}/1/out.mp3`;
  await store.put(outputKey, Readable.from([Buffer.from('mp3 bytes')]));
  await store.put(`inputs/${jobId}/x/in.wav`, Readable.from([Buffer.from('wav bytes')]));
  return { jobId, queuedUnit: ids[0], outputKey };
}

const statusOf = async (jobId: string) => (await prisma.job.findUniqueOrThrow({ where: { id: jobId } })).status;
const keysOf = (jobId: string) => store.keys().filter((k) => k.includes(jobId));

describe('JobCancellation', () => {
  it('cancels in one go: units canceled, queued entries removed, files deleted, canceled, one callback delivery', async () => {
    const { jobId, queuedUnit } = await runningJob();
    expect(await cancellation.cancel(jobId)).toBe('canceled');
    expect(await statusOf(jobId)).toBe('canceled');
    expect(await prisma.output.findUniqueOrThrow({ where: { id: queuedUnit } })).toMatchObject({ status: 'canceled' });
    expect(await producer.queue('convert').count()).toBe(0);
    expect(keysOf(jobId)).toEqual([]);
    expect(await prisma.delivery.findMany({ where: { jobId } })).toMatchObject([
      { deliveryId: deliveryIdFor(jobId, 'job.canceled'), state: 'pending' },
    ]);
    const id = jobIdFor('callback', { jobId, event: 'job.canceled', deliveryId: deliveryIdFor(jobId, 'job.canceled') });
    expect(await producer.queue('callback').getJobState(id)).toBe('waiting');
  });

  it('a step that fails leaves the job canceling (nothing sent); a second cancel finishes it, once', async () => {
    const { jobId, outputKey } = await runningJob();
    store.down = true;
    failures.length = 0;
    expect(await cancellation.cancel(jobId)).toBe('canceling');
    expect(failures).toEqual(['finish']);
    expect(await statusOf(jobId)).toBe('canceling');
    expect(store.keys()).toContain(outputKey);
    expect(await prisma.delivery.count({ where: { jobId } })).toBe(0);

    store.down = false;
    expect(await cancellation.cancel(jobId)).toBe('canceled');
    expect(keysOf(jobId)).toEqual([]);
    // Repeated once more (a client retrying its DELETE): nothing changes, nothing is sent twice.
    expect(await cancellation.cancel(jobId)).toBe('canceled');
    expect(await prisma.delivery.count({ where: { jobId } })).toBe(1);
    expect(await producer.queue('callback').count()).toBeGreaterThanOrEqual(1);
  });

  it('a job that already ended is not canceled', async () => {
    const { jobId, outputKey } = await runningJob();
    await prisma.job.update({ where: { id: jobId }, data: { status: 'completed' } });
    expect(await cancellation.cancel(jobId)).toBe('ended');
    expect(await statusOf(jobId)).toBe('completed');
    expect(store.keys()).toContain(outputKey);
  });

  it('a converter finishing during the cancel records nothing (its claim is fenced by the canceling job)', async () => {
    const { jobId, queuedUnit } = await runningJob();
    const claim = (await lifecycle.markUnitStarted(jobId, queuedUnit))!;
    store.down = true;
    expect(await cancellation.cancel(jobId)).toBe('canceling');
    store.down = false;
    const file = {
      objectKey: `outputs/${jobId}/${queuedUnit}/${claim.attempt}/late.mp3`,
      filename: 'late.mp3',
      size: BigInt(4),
      contentType: 'audio/mpeg',
      checksumSha256: 'f'.repeat(64),
    };
    expect(await lifecycle.completeUnit(jobId, queuedUnit, claim.lease, file)).toBe(false);
    expect(await cancellation.cancel(jobId)).toBe('canceled');
    expect(await prisma.output.count({ where: { jobId, objectKey: { not: null } } })).toBe(0);
  });
});
