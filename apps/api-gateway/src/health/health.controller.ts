import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { REDIS, type RedisClient } from '@kiln/queue';
import { PRISMA, type PrismaClient } from '@kiln/database';
import { OBJECT_STORE, type ObjectStore } from '@kiln/storage';
import { Public } from '../auth/auth.guard';
import { LOGGER, runCheck, type Logger } from '@kiln/observability';

@Controller('health')
export class HealthController {
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(REDIS) private readonly redis: RedisClient,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  @Get('live')
  @Public()
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  @Public()
  async ready(@Res({ passthrough: true }) res: Response) {
    const checks = await Promise.all([
      runCheck('database', () => this.prisma.$queryRaw`SELECT 1`),
      runCheck('redis', () => this.redis.ping()),
      runCheck('storage', () => this.store.ping()),
    ]);
    const ok = checks.every((c) => c.ok);
    if (!ok) this.log.warn({ checks: checks.filter((c) => !c.ok) }, 'not ready');
    res.status(ok ? 200 : 503);
    return { status: ok ? 'ok' : 'unavailable', checks };
  }
}
