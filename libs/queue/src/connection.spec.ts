import { Cluster, Redis } from 'ioredis';
import { createRedis, parseClusterNode, redisTargetOf } from './connection';

describe('Redis connections', () => {
  it('reads seed nodes as host:port or URLs carrying credentials and TLS', () => {
    expect(parseClusterNode('10.0.0.1:7000')).toEqual({ node: { host: '10.0.0.1', port: 7000 }, options: {} });
    expect(parseClusterNode('rediss://kiln:p%40ss@redis-0.redis:6379')).toEqual({
      node: { host: 'redis-0.redis', port: 6379 },
      options: { username: 'kiln', password: 'p@ss', tls: {} },
    });
    expect(parseClusterNode('[::1]:7002').node).toEqual({ host: '::1', port: 7002 });
    expect(() => parseClusterNode('redis-0')).toThrow(/host:port/);
  });

  it('picks the cluster when seed nodes are configured, else the single server', () => {
    expect(redisTargetOf({ REDIS_URL: 'redis://a:1', REDIS_CLUSTER_NODES: ['b:2'] })).toEqual({
      clusterNodes: ['b:2'],
    });
    expect(redisTargetOf({ REDIS_URL: 'redis://a:1' })).toEqual({ url: 'redis://a:1' });
  });

  it('builds an ioredis Cluster with the role options on every node, or a plain Redis', () => {
    const cluster = createRedis({ clusterNodes: ['127.0.0.1:1', 'redis://:pw@127.0.0.1:2'] }, 'worker', {
      lazyConnect: true,
    });
    const single = createRedis('redis://127.0.0.1:1', 'producer', { lazyConnect: true });
    try {
      expect(cluster).toBeInstanceOf(Cluster);
      const options = (cluster as Cluster).options;
      // BullMQ's blocking commands need maxRetriesPerRequest: null on every node of a worker's cluster.
      expect(options.redisOptions).toMatchObject({ maxRetriesPerRequest: null, connectionName: 'kiln-worker' });
      expect(options.enableOfflineQueue).toBe(true);
      expect(single).toBeInstanceOf(Redis);
      expect((single as Redis).options).toMatchObject({ maxRetriesPerRequest: 3, enableOfflineQueue: false });
    } finally {
      cluster.disconnect();
      single.disconnect();
    }
  });
});
