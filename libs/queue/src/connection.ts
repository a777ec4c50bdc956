import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';

/** A single Redis server or a Redis Cluster: every queue, worker, lock, limit and channel takes either. */
export type RedisClient = Redis | Cluster;

/** Where Redis is: one server (`REDIS_URL`) or the seed nodes of a Redis Cluster (`REDIS_CLUSTER_NODES`). */
export interface RedisTarget {
  url?: string;
  /** Seed nodes (`host:port`, or `redis[s]://[user:password@]host:port`); set means cluster mode. */
  clusterNodes?: string[];
}

export type RedisRole = 'worker' | 'producer' | 'client';

/** The configured target: the cluster's seed nodes when given, else the single server's URL. */
export function redisTargetOf(config: { REDIS_URL?: string; REDIS_CLUSTER_NODES?: string[] }): RedisTarget {
  return config.REDIS_CLUSTER_NODES?.length ? { clusterNodes: config.REDIS_CLUSTER_NODES } : { url: config.REDIS_URL };
}

/**
 * A seed node and the connection options it carries. `host:port` is plain; a URL may carry a
 * user, a password and TLS (`rediss://`), applied to every node of the cluster.
 */
export function parseClusterNode(entry: string): { node: ClusterNode; options: RedisOptions } {
  const text = entry.trim();
  const url = new URL(/^rediss?:\/\//i.test(text) ? text : `redis://${text}`);
  if (!url.hostname || !url.port) throw new Error(`expected host:port, got "${text}"`);
  const options: RedisOptions = {};
  if (url.username) options.username = decodeURIComponent(url.username);
  if (url.password) options.password = decodeURIComponent(url.password);
  if (url.protocol === 'rediss:') options.tls = {};
  return { node: { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) }, options };
}

/**
 * Options per role. Workers need `maxRetriesPerRequest: null` (blocking commands wait through
 * reconnects and failovers); producers fail fast instead so an HTTP request never hangs on Redis.
 */
function roleOptions(role: RedisRole): RedisOptions {
  return {
    maxRetriesPerRequest: role === 'worker' ? null : 3,
    enableOfflineQueue: role !== 'producer',
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    connectionName: `kiln-${role}`,
  };
}

/** An ioredis connection for BullMQ and Kiln's own keys: a `Redis`, or a `Cluster` in cluster mode. */
export function createRedis(target: string | RedisTarget, role: RedisRole, extra: RedisOptions = {}): RedisClient {
  const where: RedisTarget = typeof target === 'string' ? { url: target } : target;
  let redis: RedisClient;
  if (where.clusterNodes?.length) {
    const seeds = where.clusterNodes.map(parseClusterNode);
    const { enableOfflineQueue, retryStrategy, ...perNode } = roleOptions(role);
    const options: ClusterOptions = {
      enableOfflineQueue,
      clusterRetryStrategy: (times) => retryStrategy?.(times) ?? 2_000,
      // After a failover the slot map changes: follow MOVED/ASK and refresh it instead of failing.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 300,
      retryDelayOnTryAgain: 200,
      slotsRefreshTimeout: 2_000,
      redisOptions: { ...perNode, ...seeds[0].options, ...extra },
    };
    redis = new Cluster(
      seeds.map((s) => s.node),
      options,
    );
  } else {
    if (!where.url) throw new Error('no Redis configured: set REDIS_URL or REDIS_CLUSTER_NODES');
    redis = new Redis(where.url, { ...roleOptions(role), lazyConnect: false, ...extra });
  }
  // Connection errors surface through failing commands, health checks and reconnects; without a
  // listener ioredis would print each one as an unhandled error event outside the JSON logs.
  redis.on('error', () => undefined);
  return redis;
}

/**
 * Nest injection tokens of a process's Redis connections: `REDIS` carries commands (BullMQ
 * producer, pub/sub publish, counters, locks; role `producer`), `WORKER_REDIS` is the workers'
 * blocking BullMQ connection (role `worker`).
 */
export const REDIS = Symbol('Redis');
export const WORKER_REDIS = Symbol('WorkerRedis');

/**
 * Resolves once the connection is ready (true), or after `timeoutMs` (false) while Redis is still
 * away. A producer connection refuses commands until it is ready (no offline queue), and a Redis
 * Cluster needs a moment to load its slot map: processes wait for it at start instead of failing
 * their first command; past the deadline they start anyway and report Redis in /health/ready.
 */
export function untilReady(redis: RedisClient, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    redis.once('ready', onReady);
  });
}
