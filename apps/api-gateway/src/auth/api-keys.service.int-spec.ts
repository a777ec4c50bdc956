// The gateway's managed key lookup against real PostgreSQL: how long a revoked key can still pass on
// a replica that did not hear the revocation (the cache's 2 s), and how often `last_used_at` is written
// (at most once a minute per key, not on every request).
import { testConfig } from '@kiln/config/testing';
import { createApiKey, createPrismaClient, hashApiKey, type PrismaClient } from '@kiln/database';
import { createTestDatabase, type TestDatabase } from '@kiln/database/testing';
import type { ChannelFanout, RedisClient } from '@kiln/queue';
import { ApiKeys, LAST_USED_EVERY_MS } from './api-keys.service';

let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createTestDatabase();
  prisma = createPrismaClient({ url: db.url, poolSize: 2 });
});

afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

const config = testConfig();
/** A replica that hears no revocation (no Redis): only its cache's lifetime bounds it. */
const deafReplica = () => new ApiKeys(prisma, {} as RedisClient, {} as ChannelFanout, config);

const lastUsed = async (id: string) =>
  (await prisma.apiKey.findUniqueOrThrow({ where: { id }, select: { lastUsedAt: true } })).lastUsedAt?.getTime() ??
  null;

/** `last_used_at` is written without being awaited by the lookup: once the replica's writes ended, it holds `want`. */
async function lastUsedBecomes(replica: ApiKeys, id: string, want: number | null): Promise<void> {
  await replica.settled();
  expect(await lastUsed(id)).toBe(want);
}

describe('ApiKeys lookups (PostgreSQL)', () => {
  it('finds an active key by hash, with its scopes and limits; an unknown hash is not found', async () => {
    const { key, view } = await createApiKey(prisma, {
      name: 'a',
      scopes: ['jobs:read', 'jobs:read', 'uploads:write'],
      limits: { rate_per_minute: 5 },
    });
    const keys = deafReplica();
    expect(await keys.lookup(hashApiKey(key))).toEqual({
      id: view.id,
      scopes: ['jobs:read', 'uploads:write'],
      limits: { rate_per_minute: 5 },
    });
    expect(await keys.lookup(hashApiKey(`${key}x`))).toBeUndefined();
  });

  it('keeps answering a key revoked elsewhere for at most KILN_API_KEY_CACHE_MS', async () => {
    const { key, view } = await createApiKey(prisma, { name: 'b', scopes: ['jobs:read'] });
    const keys = deafReplica();
    const t0 = Date.now();
    expect(await keys.lookup(hashApiKey(key), t0)).toMatchObject({ id: view.id });
    await prisma.apiKey.update({ where: { id: view.id }, data: { revokedAt: new Date() } });
    expect(await keys.lookup(hashApiKey(key), t0 + config.KILN_API_KEY_CACHE_MS - 1)).toMatchObject({ id: view.id });
    expect(await keys.lookup(hashApiKey(key), t0 + config.KILN_API_KEY_CACHE_MS)).toBeUndefined();
    // A fresh replica never sees it.
    expect(await deafReplica().lookup(hashApiKey(key), t0)).toBeUndefined();
  });

  it('writes last_used_at at most once a minute per key, also across replicas', async () => {
    const { key, view } = await createApiKey(prisma, { name: 'c', scopes: ['jobs:read'] });
    const h = hashApiKey(key);
    const t0 = Date.now();
    const one = deafReplica();
    await one.lookup(h, t0);
    await lastUsedBecomes(one, view.id, t0);
    // Within the minute: neither this replica (cached or not) nor another writes again.
    for (const at of [t0 + 1_000, t0 + config.KILN_API_KEY_CACHE_MS + 1, t0 + LAST_USED_EVERY_MS - 1])
      await one.lookup(h, at);
    const other = deafReplica();
    await other.lookup(h, t0 + 30_000);
    await other.settled();
    await lastUsedBecomes(one, view.id, t0);
    // A minute on: written again.
    await one.lookup(h, t0 + LAST_USED_EVERY_MS + 5);
    await lastUsedBecomes(one, view.id, t0 + LAST_USED_EVERY_MS + 5);
  });
});
