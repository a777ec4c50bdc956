import { Redis, type RedisOptions } from 'ioredis';

export interface QueueConnectionOptions {
  url: string;
  /** Prefix of every BullMQ key. A Redis Cluster deployment uses a hash tag such as "{kiln}". */
  prefix: string;
}

/**
 * An ioredis connection for BullMQ. Workers need `maxRetriesPerRequest: null` (blocking commands
 * wait through reconnects); producers fail fast instead so an HTTP request never hangs on Redis.
 */
export function createRedis(url: string, role: 'worker' | 'producer' | 'client', extra: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: role === 'worker' ? null : 3,
    enableOfflineQueue: role !== 'producer',
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    connectionName: `kiln-${role}`,
    lazyConnect: false,
    ...extra,
  });
  // Connection errors surface through failing commands, health checks and reconnects; without a
  // listener ioredis would print each one as an unhandled error event outside the JSON logs.
  redis.on('error', () => undefined);
  return redis;
}
