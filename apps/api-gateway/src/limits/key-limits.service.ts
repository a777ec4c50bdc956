import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { REDIS, type RedisClient } from '@kiln/queue';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KilnError } from '@kiln/contracts';
import { ApiKeys } from '../auth/api-keys.service';
import type { Principal } from '../auth/principal';

/** An upload slot is refreshed this often while its request lives… */
export const UPLOAD_SLOT_REFRESH_MS = 5_000;
/**
 * …and stops counting this long after its last refresh: the gateway holding it died mid-request
 * (SIGKILL, OOM, a lost host), so its slots are free again within this bound, not after the longest
 * possible upload.
 */
export const UPLOAD_SLOT_STALE_MS = 3 * UPLOAD_SLOT_REFRESH_MS;
/** An event stream's slot is refreshed this often while the stream is open… */
const STREAM_REFRESH_MS = 20_000;
/** …and stops counting this long after its last refresh (the gateway holding it died). */
const STREAM_STALE_MS = 3 * STREAM_REFRESH_MS;
export const EVENT_STREAMS_RETRY_AFTER_S = 10;

/** Gives an event stream's slot back; safe to call more than once. */
export type ReleaseSlot = () => Promise<void>;

/**
 * Per-key limits shared by every gateway replica (Redis): a request rate (fixed one-minute windows;
 * a managed key's own `rate_per_minute` over the server's),
 * the number of uploads streaming at once and of event streams open. Over a limit: 429
 * `rate_limited` with Retry-After.
 */
@Injectable()
export class KeyLimits {
  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    private readonly keys: ApiKeys,
  ) {}

  private key(kind: string, owner: string): string {
    return `${this.config.KILN_QUEUE_PREFIX}:limits:${kind}:${owner}`;
  }

  /** The key's own `rate_per_minute` (a managed key's limits) over KILN_RATE_LIMIT_PER_MINUTE; 0 is off. */
  rateLimitOf(principal: Principal): number {
    const own = principal.kind === 'key' ? principal.limits?.rate_per_minute : undefined;
    return own ?? this.config.KILN_RATE_LIMIT_PER_MINUTE;
  }

  async checkRate(principal: Principal, now = Date.now()): Promise<void> {
    const limit = this.rateLimitOf(principal);
    if (!limit) return;
    const window = Math.floor(now / 60_000);
    const k = this.key(`rate:${window}`, principal.ownerKeyHash);
    const [[, count]] = (await this.redis.multi().incr(k).pexpire(k, 61_000).exec()) as [[null, number], unknown];
    if (count > limit) {
      const retryAfter = Math.max(1, Math.ceil(((window + 1) * 60_000 - now) / 1000));
      throw new KilnError(
        'rate_limited',
        `More than ${limit} requests per minute for this API key; try again in ${retryAfter} s.`,
        undefined,
        { 'Retry-After': String(retryAfter) },
      );
    }
  }

  /**
   * Takes one of the key's event-stream slots (KILN_MAX_EVENT_STREAMS_PER_KEY) for as long as an
   * SSE stream is open: a sorted set of slots scored by their last refresh, refreshed while held, so
   * the slots of a gateway that died stop counting within STREAM_STALE_MS. Over the limit: 429.
   */
  async openEventStream(ownerKeyHash: string): Promise<ReleaseSlot> {
    // A managed key's own `max_event_streams` (also for its job tokens) over the server's.
    const own = (await this.keys.limitsOf(ownerKeyHash))?.max_event_streams;
    const limit = own ?? this.config.KILN_MAX_EVENT_STREAMS_PER_KEY;
    if (!limit) return async () => undefined;
    const k = this.key('streams', ownerKeyHash);
    const slot = randomUUID();
    const now = Date.now();
    const result = (await this.redis
      .multi()
      .zremrangebyscore(k, 0, now - STREAM_STALE_MS)
      .zadd(k, now, slot)
      .zcard(k)
      .pexpire(k, STREAM_STALE_MS)
      .exec()) as [null, number][];
    if (result[2][1] > limit) {
      await this.redis.zrem(k, slot);
      throw new KilnError(
        'rate_limited',
        `This API key already has ${limit} event streams open (limit ${limit}); close one, then try again.`,
        [{ message: `at most ${limit} event streams per API key`, limit }],
        {
          'Retry-After': String(EVENT_STREAMS_RETRY_AFTER_S),
        },
      );
    }
    const refresh = setInterval(() => {
      void this.redis
        .multi()
        .zadd(k, 'XX', Date.now(), slot)
        .pexpire(k, STREAM_STALE_MS)
        .exec()
        .catch(() => undefined);
    }, STREAM_REFRESH_MS);
    refresh.unref();
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      clearInterval(refresh);
      await this.redis.zrem(k, slot).catch(() => undefined);
    };
  }

  /**
   * Runs an upload inside one of the key's upload slots (released in every outcome): a sorted set
   * of slots scored by their last refresh, refreshed while the upload runs, so the slots of a
   * gateway that died stop counting within UPLOAD_SLOT_STALE_MS however long its uploads were.
   */
  async withUploadSlot<T>(principal: Principal, work: () => Promise<T>): Promise<T> {
    const limit = this.config.KILN_MAX_CONCURRENT_UPLOADS_PER_KEY;
    if (!limit) return work();
    const k = this.key('uploads', principal.ownerKeyHash);
    const slot = randomUUID();
    const now = Date.now();
    const result = (await this.redis
      .multi()
      .zremrangebyscore(k, 0, now - UPLOAD_SLOT_STALE_MS)
      .zadd(k, now, slot)
      .zcard(k)
      .pexpire(k, UPLOAD_SLOT_STALE_MS)
      .exec()) as [null, number][];
    const inUse = result[2][1];
    if (inUse > limit) {
      await this.redis.zrem(k, slot);
      throw new KilnError(
        'rate_limited',
        `This API key already has ${limit} uploads in progress; wait for one to finish.`,
        undefined,
        { 'Retry-After': '5' },
      );
    }
    const refresh = setInterval(() => {
      void this.redis
        .multi()
        .zadd(k, 'XX', Date.now(), slot)
        .pexpire(k, UPLOAD_SLOT_STALE_MS)
        .exec()
        .catch(() => undefined);
    }, UPLOAD_SLOT_REFRESH_MS);
    refresh.unref();
    try {
      return await work();
    } finally {
      clearInterval(refresh);
      await this.redis.zrem(k, slot).catch(() => undefined);
    }
  }
}
