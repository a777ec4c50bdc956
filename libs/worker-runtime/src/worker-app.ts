import {
  Module,
  type DynamicModule,
  type Provider,
  type Type,
  Inject,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { KILN_CONFIG, describeConfig, loadConfig, type KilnConfig } from '@kiln/config';
import type { QueueName } from '@kiln/contracts';
import { PRISMA, type PrismaClient } from '@kiln/database';
import { KilnMetrics, LOGGER, createLogger, runCheck, type KilnMetricsOptions, type Logger } from '@kiln/observability';
import { QueueProducer, REDIS, WORKER_REDIS, WorkerHost, type JobHandler, type RedisClient } from '@kiln/queue';
import { coreProviders } from '@kiln/runtime-core';
import { OBJECT_STORE, type ObjectStore } from '@kiln/storage';
import { startWorkerHttp, type WorkerHttp } from './worker-http';

export const JOB_HANDLERS = Symbol('JobHandlers');

export interface WorkerAppSpec {
  name: string;
  /** Its handlers, or a function of the config choosing them (a converter's enabled engines). */
  handlers: Type<JobHandler>[] | ((config: KilnConfig) => Type<JobHandler>[]);
  consumes: (config: KilnConfig) => Partial<Record<QueueName, { concurrency: number; lockDurationMs?: number }>>;
  providers?: Provider[];
  /** Process gauges read on scrape (the converter passes `ffmpegProcesses`). */
  metrics?: Omit<KilnMetricsOptions, 'app'>;
}

/** Providers of a worker process: the core providers (worker role: a blocking and a producer Redis connection) and its metrics. */
export function workerProviders(
  config: KilnConfig,
  log: Logger,
  metrics: KilnMetrics = new KilnMetrics({ app: 'worker' }),
): Provider[] {
  return [...coreProviders(config, log, 'worker'), { provide: KilnMetrics, useValue: metrics }];
}

class WorkerLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private host?: WorkerHost;
  private http?: WorkerHttp;
  constructor(
    @Inject(JOB_HANDLERS) private readonly handlers: JobHandler[],
    @Inject(WORKER_REDIS) private readonly workerRedis: RedisClient,
    @Inject(REDIS) private readonly producerRedis: RedisClient,
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(KilnMetrics) private readonly metrics: KilnMetrics,
    @Inject(QueueProducer) private readonly producer: QueueProducer,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject('WORKER_SPEC') private readonly spec: WorkerAppSpec,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // Listening first: /health/live answers while the workers connect, /health/ready says "not started".
    if (this.config.KILN_WORKER_HTTP_PORT) {
      this.http = await startWorkerHttp({
        port: this.config.KILN_WORKER_HTTP_PORT,
        host: this.config.KILN_HOST,
        metrics: this.metrics,
        metricsToken: this.config.KILN_METRICS_TOKEN,
        ready: () => this.readiness(),
        log: this.log,
      });
    }
    this.host = new WorkerHost(this.handlers, {
      connection: this.workerRedis,
      prefix: this.config.KILN_QUEUE_PREFIX,
      consumes: this.spec.consumes(this.config),
      log: this.log,
    });
    await this.host.start();
    this.log.info(
      { queues: this.host.queues, httpPort: this.http?.port ?? null, config: describeConfig(this.config) },
      `${this.spec.name} ready`,
    );
  }

  /** Readiness: PostgreSQL, Redis (the workers' connection), storage, and every BullMQ worker taking work. */
  private readiness() {
    return Promise.all([
      runCheck('database', () => this.prisma.$queryRaw`SELECT 1`),
      runCheck('redis', () => this.workerRedis.ping()),
      runCheck('storage', () => this.store.ping()),
      runCheck('workers', () => {
        const stopped = this.host?.stoppedQueues() ?? [];
        if (!this.host || stopped.length) throw new Error(`not taking work: ${stopped.join(', ') || 'not started'}`);
      }),
    ]);
  }

  async onApplicationShutdown(signal?: string): Promise<void> {
    this.log.info({ signal }, `${this.spec.name} stopping: no new work, waiting for running jobs`);
    await this.host?.close(this.config.KILN_SHUTDOWN_GRACE_SECONDS * 1000);
    await this.producer.close().catch(() => undefined);
    this.workerRedis.disconnect();
    this.producerRedis.disconnect();
    await this.prisma.$disconnect();
    await this.http?.close();
    this.log.info({}, `${this.spec.name} stopped`);
  }
}

/** Boots a worker process as a Nest standalone app: handlers wired to their queues, graceful SIGTERM. */
export async function runWorkerApp(spec: WorkerAppSpec): Promise<void> {
  const config = loadConfig();
  const log = createLogger(spec.name, config.KILN_LOG_LEVEL);
  const metrics = new KilnMetrics({ app: spec.name, ...spec.metrics });
  const handlers = typeof spec.handlers === 'function' ? spec.handlers(config) : spec.handlers;

  @Module({})
  class WorkerModule {}

  const module: DynamicModule = {
    module: WorkerModule,
    providers: [
      ...workerProviders(config, log, metrics),
      ...(spec.providers ?? []),
      ...handlers,
      { provide: 'WORKER_SPEC', useValue: spec },
      { provide: JOB_HANDLERS, useFactory: (...hs: JobHandler[]) => hs, inject: handlers },
      WorkerLifecycle,
    ],
  };
  const app = await NestFactory.createApplicationContext(module, { logger: ['error', 'warn'] });
  await app.init();
  // SIGTERM/SIGINT: stop taking work, let running jobs finish within the grace period, exit 0.
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `${spec.name} received ${signal}`);
    const hard = setTimeout(
      () => {
        log.error({}, `${spec.name} did not stop in time; exiting`);
        process.exit(1);
      },
      (config.KILN_SHUTDOWN_GRACE_SECONDS + 15) * 1000,
    );
    hard.unref();
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: String(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
