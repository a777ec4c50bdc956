import { Global, Module, type DynamicModule, type OnApplicationShutdown, Inject } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { createPrismaClient, type PrismaClient } from '@kiln/database';
import { createLogger, type Logger } from '@kiln/observability';
import { createRedis, QUEUE_WRITE_DEADLINE_MS, QueueProducer, redisTargetOf, type RedisClient } from '@kiln/queue';
import { OBJECT_STORE, objectStoreFromConfig } from '@kiln/storage';
import { ChannelFanout, JobEvents, JobLifecycle } from '@kiln/workflow';
import { LOGGER, PRISMA, REDIS } from './tokens';

/**
 * No request waits on Redis longer than this. A partitioned Redis answers nothing and the socket
 * stays open (no RST), so without it a command would wait for TCP to give up (minutes); with it
 * the request answers 503 `unavailable` and the connection carries on once the path heals.
 */
export const GATEWAY_REDIS_COMMAND_TIMEOUT_MS = QUEUE_WRITE_DEADLINE_MS;

/** Process-wide clients, built once from the validated configuration. */
@Global()
@Module({})
export class CoreModule implements OnApplicationShutdown {
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(REDIS) private readonly redis: RedisClient,
    @Inject(QueueProducer) private readonly producer: QueueProducer,
    @Inject(ChannelFanout) private readonly fanout: ChannelFanout,
  ) {}

  static forRoot(config: KilnConfig, logger: Logger = createLogger('api-gateway', config.KILN_LOG_LEVEL)): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: KILN_CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        { provide: PRISMA, useFactory: () => createPrismaClient({ url: config.DATABASE_URL, poolSize: 10 }) },
        { provide: REDIS, useFactory: () => createRedis(redisTargetOf(config), 'producer', { commandTimeout: GATEWAY_REDIS_COMMAND_TIMEOUT_MS }) },
        {
          provide: QueueProducer,
          useFactory: (redis: RedisClient) => new QueueProducer(redis, config.KILN_QUEUE_PREFIX),
          inject: [REDIS],
        },
        { provide: OBJECT_STORE, useFactory: () => objectStoreFromConfig(config) },
        { provide: JobEvents, useFactory: (redis: RedisClient) => new JobEvents(redis, config.KILN_QUEUE_PREFIX), inject: [REDIS] },
        { provide: ChannelFanout, useFactory: () => new ChannelFanout(createRedis(redisTargetOf(config), 'client', { commandTimeout: GATEWAY_REDIS_COMMAND_TIMEOUT_MS })) },
        {
          provide: JobLifecycle,
          useFactory: (prisma: PrismaClient, producer: QueueProducer, events: JobEvents) =>
            new JobLifecycle(prisma, producer, { attempts: config.KILN_CALLBACK_ATTEMPTS, backoffMs: config.KILN_CALLBACK_BACKOFF_MS }, events),
          inject: [PRISMA, QueueProducer, JobEvents],
        },
      ],
      exports: [KILN_CONFIG, LOGGER, PRISMA, REDIS, QueueProducer, OBJECT_STORE, JobLifecycle, JobEvents, ChannelFanout],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.producer.close().catch(() => undefined);
    this.fanout.close();
    this.redis.disconnect();
    await this.prisma.$disconnect();
  }
}
