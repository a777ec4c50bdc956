import { createHash, createHmac } from 'node:crypto';
import {
  newSessionId,
  signWebSession,
  verifyWebSession,
  webSessionKey,
  type WebSessionClaims,
} from './web-session-token';

const apiKey = 'kiln_test_key_0123456789abcdef';
const owner = createHash('sha256').update(apiKey).digest('hex');
const key = webSessionKey({ KILN_WEB_SESSION_SECRET: 's'.repeat(40) })!;
const now = 1_800_000_000;
const claims = (over: Partial<WebSessionClaims> = {}): WebSessionClaims => ({
  owner,
  sessionId: newSessionId(),
  issuedAt: now,
  expiresAt: now + 3600,
  ...over,
});

/** A token whose payload is any text, correctly signed (to reach the checks after the signature). */
function signedRaw(payloadText: string, k = key): string {
  const payload = Buffer.from(payloadText).toString('base64url');
  return `${payload}.${createHmac('sha256', k).update(`kiln-web-session.v1.${payload}`).digest('base64url')}`;
}

describe('web session tokens', () => {
  it('round-trips the claims, and carries the key hash, never the key', () => {
    const c = claims();
    const token = signWebSession(c, key);
    expect(verifyWebSession(token, key, now)).toEqual({ ok: true, claims: c });
    const payload = Buffer.from(token.split('.')[0], 'base64url').toString('utf8');
    expect(payload).toContain(owner);
    expect(token).not.toContain(apiKey);
    expect(payload).not.toContain(apiKey);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  });

  it('refuses a token signed with another key', () => {
    const other = webSessionKey({ KILN_WEB_SESSION_SECRET: 'o'.repeat(40) })!;
    expect(verifyWebSession(signWebSession(claims(), other), key, now)).toEqual({ ok: false, reason: 'signature' });
  });

  it('refuses a tampered payload or signature', () => {
    const token = signWebSession(claims(), key);
    const [payload, signature] = token.split('.');
    const body = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const longer = Buffer.from(JSON.stringify({ ...body, exp: body.exp + 86_400 })).toString('base64url');
    const otherOwner = Buffer.from(JSON.stringify({ ...body, o: 'f'.repeat(64) })).toString('base64url');
    expect(verifyWebSession(`${longer}.${signature}`, key, now)).toEqual({ ok: false, reason: 'signature' });
    expect(verifyWebSession(`${otherOwner}.${signature}`, key, now)).toEqual({ ok: false, reason: 'signature' });
    const flipped = signature[0] === 'A' ? `B${signature.slice(1)}` : `A${signature.slice(1)}`;
    expect(verifyWebSession(`${payload}.${flipped}`, key, now)).toEqual({ ok: false, reason: 'signature' });
    expect(verifyWebSession(`${payload}.${signature.slice(0, -2)}`, key, now)).toEqual({
      ok: false,
      reason: 'signature',
    });
  });

  it('refuses an expired token from its expiry second on', () => {
    const token = signWebSession(claims({ expiresAt: now + 10 }), key);
    expect(verifyWebSession(token, key, now + 9).ok).toBe(true);
    expect(verifyWebSession(token, key, now + 10)).toEqual({ ok: false, reason: 'expired' });
    expect(verifyWebSession(token, key, now + 100_000)).toEqual({ ok: false, reason: 'expired' });
  });

  it.each([
    ['empty', ''],
    ['one part', 'abc'],
    ['three parts', 'a.b.c'],
    ['not base64url', 'a+b.c/d'],
    ['too long', `${'a'.repeat(2000)}.b`],
  ])('refuses a malformed token (%s)', (_, token) => {
    expect(verifyWebSession(token, key, now)).toEqual({ ok: false, reason: 'malformed' });
  });

  it.each([
    ['not JSON', 'not json'],
    ['another version', JSON.stringify({ v: 2, o: owner, s: 'a'.repeat(32), iat: now, exp: now + 60 })],
    ['owner not a hash', JSON.stringify({ v: 1, o: apiKey, s: 'a'.repeat(32), iat: now, exp: now + 60 })],
    ['no session id', JSON.stringify({ v: 1, o: owner, iat: now, exp: now + 60 })],
    ['expiry not a number', JSON.stringify({ v: 1, o: owner, s: 'a'.repeat(32), iat: now, exp: 'later' })],
  ])('refuses a signed payload of the wrong shape (%s)', (_, text) => {
    expect(verifyWebSession(signedRaw(text), key, now)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('has no key (the page is off) without its own secret: nothing is derived from the webhook secret', () => {
    expect(webSessionKey({})).toBeUndefined();
    expect(
      webSessionKey({ KILN_WEBHOOK_SECRET: 'whsec_shared_0123456789' } as { KILN_WEB_SESSION_SECRET?: string }),
    ).toBeUndefined();
    const a = webSessionKey({ KILN_WEB_SESSION_SECRET: 'e'.repeat(32) })!;
    const b = webSessionKey({ KILN_WEB_SESSION_SECRET: 'e'.repeat(32) })!;
    expect(verifyWebSession(signWebSession(claims(), a), b, now).ok).toBe(true);
  });

  it('gives every login its own session id', () => {
    const ids = new Set(Array.from({ length: 50 }, newSessionId));
    expect(ids.size).toBe(50);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
  });
});
