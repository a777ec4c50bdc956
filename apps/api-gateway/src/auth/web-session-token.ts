import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The web page's session token: what the HttpOnly cookie holds instead of the API key.
 *
 *   <payload>.<signature>        both base64url
 *   payload   = JSON {v: 1, o: owner (SHA-256 of the API key, as jobs store it), s: session id, iat, exp}
 *   signature = HMAC-SHA256(secret, "kiln-web-session.v1." + payload)
 *
 * Stateless, so any gateway replica with the same secret accepts it; the session id lets a logout
 * revoke one token before it expires (the gateway keeps revoked ids in Redis until then).
 */
export interface WebSessionClaims {
  /** SHA-256 (hex) of the API key the user logged in with: the owner of the jobs the page sees. */
  owner: string;
  /** Random id of this login (revocation on logout). */
  sessionId: string;
  /** Epoch seconds. */
  issuedAt: number;
  /** Epoch seconds; the token is refused from then on. */
  expiresAt: number;
}

export type WebSessionCheck =
  | { ok: true; claims: WebSessionClaims }
  | { ok: false; reason: 'malformed' | 'signature' | 'expired' };

const DOMAIN = 'kiln-web-session.v1.';
const HEX64 = /^[0-9a-f]{64}$/;
const SESSION_ID = /^[0-9a-f]{32}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;

const mac = (secret: Buffer, payload: string): Buffer =>
  createHmac('sha256', secret)
    .update(DOMAIN + payload)
    .digest();

/**
 * The signing key: KILN_WEB_SESSION_SECRET, a secret of its own (no other party holds it: callback
 * receivers hold the webhook secret). Undefined when unset: the web page is then off.
 */
export function webSessionKey(config: { KILN_WEB_SESSION_SECRET?: string }): Buffer | undefined {
  return config.KILN_WEB_SESSION_SECRET ? Buffer.from(config.KILN_WEB_SESSION_SECRET, 'utf8') : undefined;
}

export function newSessionId(): string {
  return randomBytes(16).toString('hex');
}

export function signWebSession(claims: WebSessionClaims, key: Buffer): string {
  const payload = Buffer.from(
    JSON.stringify({ v: 1, o: claims.owner, s: claims.sessionId, iat: claims.issuedAt, exp: claims.expiresAt }),
  ).toString('base64url');
  return `${payload}.${mac(key, payload).toString('base64url')}`;
}

/** Checks the signature first (constant time), then the shape, then the expiry. */
export function verifyWebSession(
  token: string,
  key: Buffer,
  nowSeconds = Math.floor(Date.now() / 1000),
): WebSessionCheck {
  if (token.length > 1024) return { ok: false, reason: 'malformed' };
  const parts = token.split('.');
  if (parts.length !== 2 || !B64URL.test(parts[0]) || !B64URL.test(parts[1])) return { ok: false, reason: 'malformed' };
  const [payload, signature] = parts;
  const given = Buffer.from(signature, 'base64url');
  const expected = mac(key, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature' };
  let body: { v?: unknown; o?: unknown; s?: unknown; iat?: unknown; exp?: unknown };
  try {
    body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof body;
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (
    body?.v !== 1 ||
    typeof body.o !== 'string' ||
    !HEX64.test(body.o) ||
    typeof body.s !== 'string' ||
    !SESSION_ID.test(body.s) ||
    !Number.isInteger(body.iat) ||
    !Number.isInteger(body.exp)
  ) {
    return { ok: false, reason: 'malformed' };
  }
  const claims: WebSessionClaims = {
    owner: body.o,
    sessionId: body.s,
    issuedAt: body.iat as number,
    expiresAt: body.exp as number,
  };
  if (claims.expiresAt <= nowSeconds) return { ok: false, reason: 'expired' };
  return { ok: true, claims };
}
