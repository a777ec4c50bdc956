import { Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { REDIS, type RedisClient } from '@kiln/queue';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KilnError } from '@kiln/contracts';
import { BOOTSTRAP_SCOPES } from '@kiln/database';
import { ApiKeys } from './api-keys.service';
import { hashKey, type Principal } from './principal';
import {
  newSessionId,
  signWebSession,
  verifyWebSession,
  webSessionKey,
  type WebSessionClaims,
} from './web-session-token';

export const WEB_SESSION_COOKIE = 'kiln_session';
/** Cookie-authenticated requests that change something must carry this header (CSRF: a cross-site form cannot set it). */
export const WEB_CSRF_HEADER = 'x-kiln-web';

/** The page uploads files, starts and reads jobs: a managed key logs in only with all of these. */
export const WEB_PAGE_SCOPES = BOOTSTRAP_SCOPES;

/**
 * Logins of the web page. The API key is checked once (POST /web/session) and never stored or sent
 * back; the browser keeps a signed, expiring token in an HttpOnly, SameSite=Strict cookie that the
 * page's JavaScript cannot read. Logout revokes the token's session id (Redis, until it expires).
 * A bootstrap key (KILN_API_KEYS) or a managed key with the page's scopes logs in; every request of
 * the session checks that its key is still configured or not revoked (ApiKeys' short cache).
 */
@Injectable()
export class WebSessions {
  private readonly secret: Buffer | undefined;
  private readonly keyHashes: Set<string>;

  constructor(
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly keys: ApiKeys,
  ) {
    this.secret = webSessionKey(config);
    this.keyHashes = new Set(config.KILN_API_KEYS.map(hashKey));
  }

  /** The page and its sessions are served only with a secret of their own (KILN_WEB_SESSION_SECRET). */
  get enabled(): boolean {
    return this.secret !== undefined;
  }

  /** Throws a 404 when the page is off. */
  assertEnabled(): void {
    if (!this.secret)
      throw new KilnError('not_found', 'The web page is off: the operator sets KILN_WEB_SESSION_SECRET to serve it.');
  }

  private get key(): Buffer {
    this.assertEnabled();
    return this.secret!;
  }

  /** Whether this key (by hash) may use the page now: a bootstrap key, or a managed key not revoked with the page's scopes. */
  private async mayUsePage(owner: string): Promise<boolean> {
    if (this.keyHashes.has(owner)) return true;
    const managed = await this.keys.lookup(owner);
    return !!managed && WEB_PAGE_SCOPES.every((scope) => managed.scopes.includes(scope));
  }

  /** A new session token for a valid API key; undefined for a wrong one (or a managed key without the page's scopes). */
  async login(apiKey: string, now = Date.now()): Promise<{ token: string; claims: WebSessionClaims } | undefined> {
    const owner = hashKey(apiKey);
    if (!apiKey || !(await this.mayUsePage(owner))) return undefined;
    const issuedAt = Math.floor(now / 1000);
    const claims = {
      owner,
      sessionId: newSessionId(),
      issuedAt,
      expiresAt: issuedAt + this.config.KILN_WEB_SESSION_TTL_SECONDS,
    };
    return { token: signWebSession(claims, this.key), claims };
  }

  /** The session's claims, or a 401 (which also clears the cookie) when the token is bad, expired, revoked or its key was removed. */
  async verify(token: string, req: Request): Promise<WebSessionClaims> {
    const check = verifyWebSession(token, this.key);
    const refuse = (why: string) =>
      new KilnError('unauthorized', `The web session ${why}; log in again at /.`, undefined, {
        'Set-Cookie': this.clearCookie(req),
      });
    if (!check.ok) throw refuse(check.reason === 'expired' ? 'has expired' : 'is not valid');
    if (!(await this.mayUsePage(check.claims.owner)))
      throw refuse('belongs to an API key that was revoked or is no longer configured');
    if (await this.redis.exists(this.revokedKey(check.claims.sessionId))) throw refuse('has ended (logged out)');
    return check.claims;
  }

  /** Principal of a cookie-authenticated request. */
  async principal(token: string, req: Request): Promise<Principal> {
    const claims = await this.verify(token, req);
    return { kind: 'web-session', ownerKeyHash: claims.owner, sessionId: claims.sessionId };
  }

  /** The claims of a token already checked by verify() (no revocation lookup); undefined when not valid. */
  claimsOf(token: string): WebSessionClaims | undefined {
    const check = verifyWebSession(token, this.key);
    return check.ok ? check.claims : undefined;
  }

  /** Logout: the token stops working on every replica now, not only when it expires. */
  async revoke(token: string): Promise<void> {
    const check = verifyWebSession(token, this.key);
    if (!check.ok) return;
    const ttlMs = check.claims.expiresAt * 1000 - Date.now();
    if (ttlMs > 0) await this.redis.set(this.revokedKey(check.claims.sessionId), '1', 'PX', ttlMs);
  }

  /** The session cookie's value, if the request has one. */
  tokenOf(req: Request): string | undefined {
    const header = req.headers.cookie;
    if (!header) return undefined;
    for (const part of header.split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === WEB_SESSION_COOKIE) return part.slice(eq + 1).trim();
    }
    return undefined;
  }

  sessionCookie(token: string, req: Request): string {
    return `${WEB_SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${this.config.KILN_WEB_SESSION_TTL_SECONDS}${req.secure ? '; Secure' : ''}`;
  }

  clearCookie(req: Request): string {
    return `${WEB_SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${req.secure ? '; Secure' : ''}`;
  }

  private revokedKey(sessionId: string): string {
    return `${this.config.KILN_QUEUE_PREFIX}:web:revoked:${sessionId}`;
  }
}
