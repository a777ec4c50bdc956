import { Global, Module, type DynamicModule, type OnApplicationShutdown, Inject } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { createPrismaClient, type PrismaClient } from '@kiln/database';
import { createLogger, type Logger } from '@kiln/observability';
import { createRedis, QueueProducer, redisTargetOf, type RedisClient } from '@kiln/queue';
import { OBJECT_STORE, objectStoreFromConfig } from '@kiln/storage';
import { ChannelFanout, JobEvents, JobLifecycle } from '@kiln/workflow';
import { LOGGER, PRISMA, REDIS } from './tokens';

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
        { provide: REDIS, useFactory: () => createRedis(redisTargetOf(config), 'producer') },
        {
          provide: QueueProducer,
          useFactory: (redis: RedisClient) => new QueueProducer(redis, config.KILN_QUEUE_PREFIX),
          inject: [REDIS],
        },
        { provide: OBJECT_STORE, useFactory: () => objectStoreFromConfig(config) },
        { provide: JobEvents, useFactory: (redis: RedisClient) => new JobEvents(redis, config.KILN_QUEUE_PREFIX), inject: [REDIS] },
        { provide: ChannelFanout, useFactory: () => new ChannelFanout(createRedis(redisTargetOf(config), 'client')) },
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
