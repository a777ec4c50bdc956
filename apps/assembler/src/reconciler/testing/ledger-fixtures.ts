// Real services for the reconciler's and the cancel's tests: a cloned database, the machine's Redis
// under a unique queue prefix (removed after), and the in-memory ObjectStore (the ObjectStore
// contract suite runs the real S3 adapter). Jobs are seeded as the lifecycle leaves them.
import { randomBytes, randomUUID } from 'node:crypto';
import type { KilnConfig } from '@kiln/config';
import { testConfig } from '@kiln/config/testing';
import { QueueName, jobIdFor, type PayloadOf } from '@kiln/contracts';
import { createPrismaClient, type PrismaClient } from '@kiln/database';
import { createTestDatabase, seedJobRow, type TestDatabase } from '@kiln/database/testing';
import { KilnMetrics, createLogger } from '@kiln/observability';
import { QueueProducer, createRedis, type RedisClient } from '@kiln/queue';
import { InMemoryObjectStore } from '@kiln/storage/testing';
import { JobCancellation, JobLifecycle } from '@kiln/workflow';
import { MaintenanceSchedule } from '../../maintenance.schedule';
import { Reconciler } from '../reconciler';

export const GRACE_MS = 30_000;

export interface LedgerServices {
  db: TestDatabase;
  prisma: PrismaClient;
  redis: RedisClient;
  producer: QueueProducer;
  store: InMemoryObjectStore;
  lifecycle: JobLifecycle;
  cancellation: JobCancellation;
  metrics: KilnMetrics;
  reconciler: () => Reconciler;
  config: KilnConfig;
  /** The queue prefix of these tests (for a BullMQ Worker of their own). */
  prefix: string;
}

export async function startLedgerServices(): Promise<LedgerServices> {
  const db = await createTestDatabase();
  const prisma = createPrismaClient({ url: db.url, poolSize: 6 });
  const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'client');
  const prefix = `kiln-reconcile-${randomBytes(4).toString('hex')}`;
  const producer = new QueueProducer(redis, prefix);
  const store = new InMemoryObjectStore();
  const lifecycle = new JobLifecycle(prisma, producer, { attempts: 3, backoffMs: 10 }, undefined, { maxAttempts: 3 });
  const cancellation = new JobCancellation(prisma, producer, store, lifecycle);
  const metrics = new KilnMetrics({ app: 'reconciler-test' });
  const config = testConfig({ DATABASE_URL: db.url, KILN_RECONCILE_GRACE_MS: String(GRACE_MS) });
  const log = createLogger('reconciler-test', 'silent');
  const schedule = new MaintenanceSchedule(producer);
  const reconciler = () => new Reconciler(prisma, producer, config, log, metrics, lifecycle, cancellation, schedule);
  return { db, prisma, redis, producer, store, lifecycle, cancellation, metrics, reconciler, config, prefix };
}

export async function stopLedgerServices(s: LedgerServices | undefined): Promise<void> {
  if (!s) return;
  for (const name of Object.values(QueueName)) await s.producer.queue(name).obliterate({ force: true });
  await s.producer.close();
  s.redis.disconnect();
  await s.prisma.$disconnect();
  await s.db.drop();
}

export interface SeededUnit {
  status: 'queued' | 'processing' | 'completed' | 'failed';
  /** Seconds before the reconciler's `now` the holder last beat (processing units). */
  beatAgoS?: number;
}

export interface SeededJob {
  jobId: string;
  units: PayloadOf<'convert'>[];
}

/**
 * A job started `startedAgoS` seconds before `now` with one input and one conversion per unit, as
 * startIfReady and the converters leave it; nothing is in Redis.
 */
export async function seedJob(
  prisma: PrismaClient,
  now: Date,
  options: { status?: string; units: SeededUnit[]; callback?: string; startedAgoS?: number },
): Promise<SeededJob> {
  const jobId = await seedJobRow(prisma, {
    status: options.status ?? 'processing',
    callback: options.callback ?? null,
    startedAt: new Date(now.getTime() - (options.startedAgoS ?? 120) * 1000),
  });
  const units: PayloadOf<'convert'>[] = [];
  for (const [n, u] of options.units.entries()) {
    const inputId = randomUUID();
    const conversionId = randomUUID();
    const outputId = randomUUID();
    await prisma.input.create({
      data: { id: inputId, jobId, type: 'upload', status: 'ready', objectKey: `inputs/${jobId}/${n}/in.wav` },
    });
    await prisma.conversion.create({ data: { id: conversionId, jobId, target: 'mp3', category: 'audio' } });
    await prisma.output.create({
      data: {
        id: outputId,
        jobId,
        inputId,
        conversionId,
        status: u.status,
        attempt: u.status === 'queued' ? 0 : 1,
        lease: u.status === 'queued' ? null : randomUUID(),
        heartbeatAt: u.beatAgoS === undefined ? null : new Date(now.getTime() - u.beatAgoS * 1000),
        ...(u.status === 'completed'
          ? { objectKey: `outputs/${jobId}/${outputId}/1/out.mp3`, filename: 'out.mp3', size: BigInt(3) }
          : {}),
      },
    });
    units.push({ jobId, inputId, conversionId, outputId });
  }
  return { jobId, units };
}

export const convertId = (u: PayloadOf<'convert'>) => jobIdFor('convert', u);
