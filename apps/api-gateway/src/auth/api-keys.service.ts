import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KilnError } from '@kiln/contracts';
import {
  PRISMA,
  activeApiKey,
  createApiKey,
  listApiKeys,
  revokeApiKey,
  revokedKeysChannel,
  type ApiKeyLimits,
  type ApiKeyScope,
  type ApiKeyView,
  type PrismaClient,
} from '@kiln/database';
import { ChannelFanout, REDIS, type RedisClient } from '@kiln/queue';

/** `last_used_at` is written at most this often per key. */
export const LAST_USED_EVERY_MS = 60_000;
const CACHE_MAX = 10_000;

export interface ActiveKey {
  id: string;
  scopes: readonly ApiKeyScope[];
  limits?: ApiKeyLimits;
}

/**
 * Managed API keys for the gateway: lookups by hash (PostgreSQL, cached briefly per process), the
 * admin operations of /v1/keys, and revocation, which every replica hears on Redis pub/sub and drops
 * from its cache at once; the short cache bounds it when the message is lost or the key was revoked
 * in the database directly.
 */
@Injectable()
export class ApiKeys implements OnModuleInit, OnModuleDestroy {
  private readonly cache = new Map<string, { key: ActiveKey; until: number }>();
  private readonly touched = new Map<string, number>();
  private readonly writes = new Set<Promise<unknown>>();
  /** Owners that are not managed keys (bootstrap keys), with when to ask PostgreSQL again. */
  private readonly unmanaged = new Map<string, number>();
  private unlisten: (() => Promise<void>) | undefined;

  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(REDIS) private readonly redis: RedisClient,
    @Inject(ChannelFanout) private readonly fanout: ChannelFanout,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
  ) {}

  private get channel(): string {
    return revokedKeysChannel(this.config.KILN_QUEUE_PREFIX);
  }

  onModuleInit(): void {
    // Not awaited: a gateway starts while Redis is away; the cache's lifetime bounds revocation then.
    this.fanout
      .listen(this.channel, (keyHash) => this.cache.delete(keyHash))
      .then((unlisten) => {
        this.unlisten = unlisten;
      })
      .catch(() => undefined);
  }

  async onModuleDestroy(): Promise<void> {
    await this.unlisten?.().catch(() => undefined);
  }

  /** The managed key of this hash, or undefined (unknown or revoked). Unknown keys are not cached. */
  async lookup(keyHash: string, now = Date.now()): Promise<ActiveKey | undefined> {
    const hit = this.cache.get(keyHash);
    if (hit && hit.until > now) {
      this.touch(hit.key.id, now);
      return hit.key;
    }
    this.cache.delete(keyHash);
    const row = await activeApiKey(this.prisma, keyHash);
    if (!row) return undefined;
    const limits = row.limits as ApiKeyLimits | null;
    const key: ActiveKey = { id: row.id, scopes: row.scopes as ApiKeyScope[], ...(limits ? { limits } : {}) };
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    // A lookup answers from memory for at most KILN_API_KEY_CACHE_MS (revocations are also heard on Redis at once).
    this.cache.set(keyHash, { key, until: now + this.config.KILN_API_KEY_CACHE_MS });
    this.touch(row.id, now, row.lastUsedAt);
    return key;
  }

  /**
   * The own limits of the key that owns work (whoever calls for it: the key, a job token, the web
   * page); undefined for a bootstrap key or a key without limits. Keys that are not managed are
   * remembered as such for KILN_API_KEY_CACHE_MS too, so a bootstrap key costs no query per admission.
   */
  async limitsOf(ownerKeyHash: string, now = Date.now()): Promise<ApiKeyLimits | undefined> {
    const unmanagedUntil = this.unmanaged.get(ownerKeyHash);
    if (unmanagedUntil !== undefined && unmanagedUntil > now) return undefined;
    const key = await this.lookup(ownerKeyHash, now);
    if (!key) {
      if (this.unmanaged.size >= CACHE_MAX) this.unmanaged.clear();
      this.unmanaged.set(ownerKeyHash, now + this.config.KILN_API_KEY_CACHE_MS);
      return undefined;
    }
    this.unmanaged.delete(ownerKeyHash);
    return key.limits;
  }

  /** Records use at most once a minute per key (per process, and not again when another replica just did). */
  private touch(id: string, now: number, lastUsedAt?: Date | null): void {
    const last = Math.max(this.touched.get(id) ?? 0, lastUsedAt?.getTime() ?? 0);
    if (now - last < LAST_USED_EVERY_MS) return;
    if (this.touched.size >= CACHE_MAX) this.touched.clear();
    this.touched.set(id, now);
    const write = this.prisma.apiKey
      .updateMany({
        where: { id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: new Date(now - LAST_USED_EVERY_MS) } }] },
        data: { lastUsedAt: new Date(now) },
      })
      .catch(() => undefined)
      .finally(() => this.writes.delete(write));
    this.writes.add(write);
  }

  /** Resolves once the `last_used_at` writes started so far have ended (they are not awaited by requests). */
  async settled(): Promise<void> {
    await Promise.all([...this.writes]);
  }

  create(body: unknown): Promise<ApiKeyView & { key: string }> {
    return createApiKey(this.prisma, body).then(({ key, view }) => ({ ...view, key }));
  }

  async list(): Promise<{ items: ApiKeyView[] }> {
    return { items: await listApiKeys(this.prisma) };
  }

  /** Revokes the key and tells every replica to drop it from its cache now. */
  async revoke(id: string): Promise<ApiKeyView> {
    const revoked = await revokeApiKey(this.prisma, id);
    if (!revoked) throw new KilnError('not_found', 'No such API key.');
    this.cache.delete(revoked.keyHash);
    await this.redis.publish(this.channel, revoked.keyHash).catch(() => undefined);
    return revoked.view;
  }
}
