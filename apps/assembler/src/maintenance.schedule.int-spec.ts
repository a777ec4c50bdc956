/**
 * The maintenance schedulers in a real Redis (a key prefix of this test's own): registering twice
 * leaves one scheduler per task, the retention and orphan tasks among them with their payloads, and
 * after Redis lost some, ensure() registers exactly those again.
 */
import { randomBytes } from 'node:crypto';
import { createRedis, QueueProducer, type RedisClient } from '@kiln/queue';
import { MaintenanceSchedule } from './maintenance.schedule';

let redis: RedisClient;
let producer: QueueProducer;

beforeAll(async () => {
  redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'producer');
  // The producer connection queues nothing offline: the first command must wait until it is ready.
  if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
  producer = new QueueProducer(redis, `kiln-test-sched-${randomBytes(4).toString('hex')}`);
});

afterAll(async () => {
  await producer.queue('maintenance').obliterate({ force: true });
  await producer.close();
  redis.disconnect();
});

const schedulers = async () =>
  (await producer.queue('maintenance').getJobSchedulers())
    .map((s) => ({ key: s.key, every: Number(s.every), task: (s.template?.data as { task?: string })?.task }))
    .sort((a, b) => a.key.localeCompare(b.key));

describe('MaintenanceSchedule', () => {
  it('registers each task once however often it runs, and again only what Redis lost', async () => {
    const schedule = new MaintenanceSchedule(producer);
    await schedule.onApplicationBootstrap();
    await schedule.onApplicationBootstrap();
    const registered = await schedulers();
    expect(registered.map((s) => s.key)).toEqual(
      expect.arrayContaining(['expire-jobs', 'sweep-orphans', 'expire-uploads', 'stale-multipart']),
    );
    expect(new Set(registered.map((s) => s.key)).size).toBe(registered.length);
    for (const s of registered) expect(s.task).toBe(s.key);
    expect(registered.find((s) => s.key === 'expire-jobs')?.every).toBe(10 * 60_000);
    expect(registered.find((s) => s.key === 'sweep-orphans')?.every).toBe(6 * 3600_000);

    // Redis lost two of them (a restart without persistence drops them all the same way).
    await producer.queue('maintenance').removeJobScheduler('expire-jobs');
    await producer.queue('maintenance').removeJobScheduler('sweep-orphans');
    expect(await schedule.ensure()).toBe(2);
    expect(await schedule.ensure()).toBe(0);
    expect(await schedulers()).toEqual(registered);
  });
});
