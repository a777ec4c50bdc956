import { Global, Module, type DynamicModule, type OnApplicationShutdown, Inject } from '@nestjs/common';
import type { KilnConfig } from '@kiln/config';
import { PRISMA, type PrismaClient } from '@kiln/database';
import { createLogger, type Logger } from '@kiln/observability';
import { ChannelFanout, QueueProducer, REDIS, type RedisClient } from '@kiln/queue';
import { coreProviders, tokensOf } from '@kiln/runtime-core';

/** Process-wide clients (the core providers of @kiln/runtime-core, gateway role), closed on shutdown. */
@Global()
@Module({})
export class CoreModule implements OnApplicationShutdown {
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(REDIS) private readonly redis: RedisClient,
    @Inject(QueueProducer) private readonly producer: QueueProducer,
    @Inject(ChannelFanout) private readonly fanout: ChannelFanout,
  ) {}

  static forRoot(
    config: KilnConfig,
    logger: Logger = createLogger('api-gateway', config.KILN_LOG_LEVEL),
  ): DynamicModule {
    const providers = coreProviders(config, logger, 'gateway');
    return { module: CoreModule, providers, exports: tokensOf(providers) };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.producer.close().catch(() => undefined);
    this.fanout.close();
    this.redis.disconnect();
    await this.prisma.$disconnect();
  }
}
