import { Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KilnError } from '@kiln/contracts';
import { REDIS, type RedisClient } from '@kiln/queue';

/** How long a right credential waits for the failure count before it is let through uncounted. */
const READ_DEADLINE_MS = 500;

/** The answer, or null when it fails or takes longer than `ms`. */
function withinMs<T>(work: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work.catch(() => null),
    new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The client address: the socket's peer, or the forwarded one when KILN_TRUST_PROXY trusts the hop. */
export function clientAddress(req: Pick<Request, 'ip' | 'socket'>): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

/**
 * Failed authentications per client address (API key, job token, login form), counted in fixed
 * one-minute windows shared by every replica. Past KILN_AUTH_FAILURES_PER_MINUTE the address gets
 * 429 with Retry-After until the window ends, even with a right credential: guessing stops paying.
 * While Redis is unreachable the count fails open (nothing counted, nothing refused for it).
 */
@Injectable()
export class AuthFailures {
  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
  ) {}

  private window(now: number): { key: (address: string) => string; retryAfter: number } {
    const w = Math.floor(now / 60_000);
    return {
      key: (address) => `${this.config.KILN_QUEUE_PREFIX}:auth-failures:${w}:${address}`,
      retryAfter: Math.max(1, Math.ceil(((w + 1) * 60_000 - now) / 1000)),
    };
  }

  private refusal(retryAfter: number): KilnError {
    return new KilnError(
      'rate_limited',
      `Too many failed authentications from this address; try again in ${retryAfter} s.`,
      undefined,
      { 'Retry-After': String(retryAfter) },
    );
  }

  /** Before accepting a valid credential: refused while the address is over its limit. */
  async assertAllowed(address: string, now = Date.now()): Promise<void> {
    const limit = this.config.KILN_AUTH_FAILURES_PER_MINUTE;
    if (!limit) return;
    const { key, retryAfter } = this.window(now);
    // Fails open, and fast: Redis unreachable or slow must not turn every right credential into a
    // 503, nor add the gateway's whole Redis deadline to each request.
    const count = Number((await withinMs(this.redis.get(key(address)), READ_DEADLINE_MS)) ?? 0);
    if (count >= limit) throw this.refusal(retryAfter);
  }

  /** A failed attempt: counted, and the refusal to give (401 as given, or 429 once over the limit). */
  async failed(address: string, error: KilnError, now = Date.now()): Promise<KilnError> {
    const limit = this.config.KILN_AUTH_FAILURES_PER_MINUTE;
    if (!limit) return error;
    const { key, retryAfter } = this.window(now);
    const k = key(address);
    const counted = (await this.redis
      .multi()
      .incr(k)
      .pexpire(k, 61_000)
      .exec()
      .catch(() => null)) as [[null, number], unknown] | null;
    // Redis unreachable: the attempt is refused as it is (401), uncounted.
    return counted && counted[0][1] > limit ? this.refusal(retryAfter) : error;
  }
}
