/** UploadLocks against real Redis: one holder per upload, renewal, lapse, compare-and-delete release. */
import { randomBytes } from 'node:crypto';
import type { KilnConfig } from '@kiln/config';
import { createRedis, type RedisClient } from '@kiln/queue';
import { UploadLocks } from './upload-lock';

function isHeld(lock: { assertHeld(): void }): boolean {
  try {
    lock.assertHeld();
    return true;
  } catch {
    return false;
  }
}

describe('UploadLocks (real Redis)', () => {
  let redis: RedisClient;
  let locks: UploadLocks;
  const prefix = `kiln-lock-test-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    // The gateway's own kind of connection (no offline queue: commands fail fast when Redis is away).
    redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', 'producer');
    if (redis.status !== 'ready') await new Promise((resolve) => redis.once('ready', resolve));
    locks = new UploadLocks(redis, { KILN_QUEUE_PREFIX: prefix } as KilnConfig);
  });
  afterAll(async () => {
    try {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  });

  it('lets one holder in at a time (423 Locked for the next), and frees the upload on release', async () => {
    const first = await locks.acquire('u1');
    expect(await redis.get(locks.key('u1'))).toMatch(/^[0-9a-f]{32}$/);
    await expect(locks.acquire('u1')).rejects.toMatchObject({ status: 423, code: 'conflict' });
    const other = await locks.acquire('u2'); // another upload is independent
    await other.release();
    await first.release();
    expect(await redis.exists(locks.key('u1'))).toBe(0);
    const again = await locks.acquire('u1');
    await again.release();
  });

  it('withLock releases after the work, also when it throws', async () => {
    await expect(
      locks.withLock('u3', async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await redis.exists(locks.key('u3'))).toBe(0);
    expect(
      await locks.withLock('u3', async (lock) => {
        lock.assertHeld();
        return 7;
      }),
    ).toBe(7);
  });

  it('renews while held: the lock outlives its TTL', async () => {
    const lock = await locks.acquire('u4', 1000);
    await new Promise((r) => setTimeout(r, 2500));
    expect(() => lock.assertHeld()).not.toThrow();
    expect(await redis.exists(locks.key('u4'))).toBe(1);
    await lock.release();
  });

  it('a lock taken over (lapsed while a holder stalled) is lost: the old holder stops, and its release leaves the new one alone', async () => {
    const old = await locks.acquire('u5', 600);
    await redis.set(locks.key('u5'), 'someone-else', 'PX', 60_000); // the TTL passed and another request took it
    // The next renewal finds another token under the key.
    for (let i = 0; i < 100 && isHeld(old); i++) await new Promise((r) => setTimeout(r, 50));
    expect(() => old.assertHeld()).toThrow(expect.objectContaining({ status: 423 }));
    await old.release();
    expect(await redis.get(locks.key('u5'))).toBe('someone-else');
  });
});
