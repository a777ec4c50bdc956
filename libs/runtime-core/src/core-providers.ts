import type { InjectionToken, Provider } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { PRISMA, createPrismaClient, type PrismaClient } from '@kiln/database';
import { LOGGER, type Logger } from '@kiln/observability';
import {
  ChannelFanout,
  JobEvents,
  QUEUE_WRITE_DEADLINE_MS,
  QueueProducer,
  REDIS,
  WORKER_REDIS,
  createRedis,
  redisTargetOf,
  untilReady,
  type RedisClient,
} from '@kiln/queue';
import { OBJECT_STORE, objectStoreFromConfig, type ObjectStore } from '@kiln/storage';
import { JobCancellation, JobLifecycle } from '@kiln/workflow';

/** Which process the clients are for: the HTTP gateway or a queue worker (assembler, converter). */
export type CoreRole = 'gateway' | 'worker';

/**
 * No gateway request waits on Redis longer than this. A partitioned Redis answers nothing and the
 * socket stays open (no RST), so without it a command would wait for TCP to give up (minutes); with
 * it the request answers 503 `unavailable` and the connection carries on once the path heals.
 * Workers set none: a job waits for Redis rather than failing, and BullMQ's blocking reads must not time out.
 */
export const GATEWAY_REDIS_COMMAND_TIMEOUT_MS = QUEUE_WRITE_DEADLINE_MS;

/** How long a process waits at start for its Redis command connection (a cluster loads its slot map first). */
const REDIS_START_WAIT_MS = 20_000;

/** Database connections per process. */
const POOL_SIZE: Record<CoreRole, number> = { gateway: 10, worker: 5 };

/**
 * The process-wide clients every Kiln process holds, built once from the validated configuration:
 * KILN_CONFIG, LOGGER, PRISMA, REDIS (commands, role `producer`), QueueProducer, OBJECT_STORE,
 * JobEvents, JobLifecycle and JobCancellation. The gateway adds ChannelFanout (its SSE subscriber connection); a
 * worker adds WORKER_REDIS (BullMQ's blocking connection). Redis Cluster or one node, as configured.
 */
export function coreProviders(config: KilnConfig, log: Logger, role: CoreRole): Provider[] {
  const redisOptions = role === 'gateway' ? { commandTimeout: GATEWAY_REDIS_COMMAND_TIMEOUT_MS } : {};
  const common: Provider[] = [
    { provide: KILN_CONFIG, useValue: config },
    { provide: LOGGER, useValue: log },
    { provide: PRISMA, useFactory: () => createPrismaClient({ url: config.DATABASE_URL, poolSize: POOL_SIZE[role] }) },
    {
      provide: REDIS,
      useFactory: async () => {
        const redis = createRedis(redisTargetOf(config), 'producer', redisOptions);
        if (!(await untilReady(redis, REDIS_START_WAIT_MS))) log.warn({}, 'Redis not ready yet; starting anyway');
        return redis;
      },
    },
    {
      provide: QueueProducer,
      useFactory: (redis: RedisClient) => new QueueProducer(redis, config.KILN_QUEUE_PREFIX),
      inject: [REDIS],
    },
    { provide: OBJECT_STORE, useFactory: () => objectStoreFromConfig(config) },
    {
      provide: JobEvents,
      useFactory: (redis: RedisClient) => new JobEvents(redis, config.KILN_QUEUE_PREFIX),
      inject: [REDIS],
    },
    {
      provide: JobLifecycle,
      useFactory: (prisma: PrismaClient, producer: QueueProducer, events: JobEvents, store: ObjectStore) =>
        new JobLifecycle(
          prisma,
          producer,
          { attempts: config.KILN_CALLBACK_ATTEMPTS, backoffMs: config.KILN_CALLBACK_BACKOFF_MS },
          events,
          { maxAttempts: config.KILN_MAX_UNIT_ATTEMPTS },
          store,
        ),
      inject: [PRISMA, QueueProducer, JobEvents, OBJECT_STORE],
    },
    {
      provide: JobCancellation,
      useFactory: (prisma: PrismaClient, producer: QueueProducer, store: ObjectStore, lifecycle: JobLifecycle) =>
        new JobCancellation(prisma, producer, store, lifecycle, (jobId, step, err) =>
          log.warn(
            { jobId, step, err: String(err) },
            'a cancel step failed; the job stays canceling until it is finished',
          ),
        ),
      inject: [PRISMA, QueueProducer, OBJECT_STORE, JobLifecycle],
    },
  ];
  if (role === 'gateway') {
    return [
      ...common,
      {
        provide: ChannelFanout,
        useFactory: () => new ChannelFanout(createRedis(redisTargetOf(config), 'client', redisOptions)),
      },
    ];
  }
  return [...common, { provide: WORKER_REDIS, useFactory: () => createRedis(redisTargetOf(config), 'worker') }];
}

/** The tokens of a provider list, for a module's `exports`. */
export function tokensOf(providers: Provider[]): InjectionToken[] {
  return providers.map((p) => ('provide' in p ? p.provide : p));
}
