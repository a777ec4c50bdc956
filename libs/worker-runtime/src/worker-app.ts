import { Module, type DynamicModule, type Provider, type Type, Inject, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Redis } from 'ioredis';
import { KILN_CONFIG, describeConfig, loadConfig, type KilnConfig } from '@kiln/config';
import type { QueueName } from '@kiln/contracts';
import { createPrismaClient, type PrismaClient } from '@kiln/database';
import { createLogger, type Logger } from '@kiln/observability';
import { createRedis, QueueProducer, WorkerHost, type JobHandler } from '@kiln/queue';
import { MinioObjectStore, OBJECT_STORE } from '@kiln/storage';
import { JobLifecycle } from '@kiln/workflow';

export const PRISMA = Symbol('Prisma');
export const LOGGER = Symbol('Logger');
export const WORKER_REDIS = Symbol('WorkerRedis');
export const PRODUCER_REDIS = Symbol('ProducerRedis');
export const JOB_HANDLERS = Symbol('JobHandlers');
export { KILN_CONFIG, OBJECT_STORE };

export interface WorkerAppSpec {
  name: string;
  handlers: Type<JobHandler>[];
  consumes: (config: KilnConfig) => Partial<Record<QueueName, { concurrency: number; lockDurationMs?: number }>>;
  providers?: Provider[];
}

/** Shared providers of the worker processes (database, storage, queues, lifecycle). */
export function workerProviders(config: KilnConfig, log: Logger): Provider[] {
  return [
    { provide: KILN_CONFIG, useValue: config },
    { provide: LOGGER, useValue: log },
    { provide: PRISMA, useFactory: () => createPrismaClient({ url: config.DATABASE_URL, poolSize: 5 }) },
    { provide: WORKER_REDIS, useFactory: () => createRedis(config.REDIS_URL, 'worker') },
    { provide: PRODUCER_REDIS, useFactory: () => createRedis(config.REDIS_URL, 'producer') },
    { provide: QueueProducer, useFactory: (redis: Redis) => new QueueProducer(redis, config.KILN_QUEUE_PREFIX), inject: [PRODUCER_REDIS] },
    {
      provide: OBJECT_STORE,
      useFactory: async () => {
        const store = new MinioObjectStore({
          endpoint: config.S3_ENDPOINT,
          publicEndpoint: config.S3_PUBLIC_ENDPOINT,
          accessKey: config.S3_ACCESS_KEY,
          secretKey: config.S3_SECRET_KEY,
          bucket: config.S3_BUCKET,
          region: config.S3_REGION,
          partSize: config.S3_PART_SIZE,
        });
        await store.ensureBucket();
        return store;
      },
    },
    {
      provide: JobLifecycle,
      useFactory: (prisma: PrismaClient, producer: QueueProducer) =>
        new JobLifecycle(prisma, producer, { attempts: config.KILN_CALLBACK_ATTEMPTS, backoffMs: config.KILN_CALLBACK_BACKOFF_MS }),
      inject: [PRISMA, QueueProducer],
    },
  ];
}

class WorkerLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private host?: WorkerHost;
  constructor(
    @Inject(JOB_HANDLERS) private readonly handlers: JobHandler[],
    @Inject(WORKER_REDIS) private readonly workerRedis: Redis,
    @Inject(PRODUCER_REDIS) private readonly producerRedis: Redis,
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(QueueProducer) private readonly producer: QueueProducer,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject('WORKER_SPEC') private readonly spec: WorkerAppSpec,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.host = new WorkerHost(this.handlers, {
      connection: this.workerRedis,
      prefix: this.config.KILN_QUEUE_PREFIX,
      consumes: this.spec.consumes(this.config),
      log: this.log,
    });
    await this.host.start();
    this.log.info({ queues: this.host.queues, config: describeConfig(this.config) }, `${this.spec.name} ready`);
  }

  async onApplicationShutdown(signal?: string): Promise<void> {
    this.log.info({ signal }, `${this.spec.name} stopping: no new work, waiting for running jobs`);
    await this.host?.close(this.config.KILN_SHUTDOWN_GRACE_SECONDS * 1000);
    await this.producer.close().catch(() => undefined);
    this.workerRedis.disconnect();
    this.producerRedis.disconnect();
    await this.prisma.$disconnect();
    this.log.info({}, `${this.spec.name} stopped`);
  }
}

/** Boots a worker process as a Nest standalone app: handlers wired to their queues, graceful SIGTERM. */
export async function runWorkerApp(spec: WorkerAppSpec): Promise<void> {
  const config = loadConfig();
  const log = createLogger(spec.name, config.KILN_LOG_LEVEL);

  @Module({})
  class WorkerModule {}

  const module: DynamicModule = {
    module: WorkerModule,
    providers: [
      ...workerProviders(config, log),
      ...(spec.providers ?? []),
      ...spec.handlers,
      { provide: 'WORKER_SPEC', useValue: spec },
      { provide: JOB_HANDLERS, useFactory: (...hs: JobHandler[]) => hs, inject: spec.handlers },
      WorkerLifecycle,
    ],
  };
  const app = await NestFactory.createApplicationContext(module, { logger: ['error', 'warn'] });
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  await app.init();
}
