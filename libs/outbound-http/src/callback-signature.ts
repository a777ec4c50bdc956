import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * `X-Kiln-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, one `v1=` per
 * secret: during a rotation both the new and the old secret sign, and a receiver holding either accepts.
 */
export function signCallback(secrets: string | string[], body: string, t = Math.floor(Date.now() / 1000)): string {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  return [
    `t=${t}`,
    ...list.map((secret) => `v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`),
  ].join(',');
}

/** The key id of an API key's owner hash: the first 12 hex characters of its SHA-256 (KILN_KEY_WEBHOOK_SECRETS). */
export const keyIdOf = (ownerKeyHash: string): string => ownerKeyHash.slice(0, 12);

/** The secrets that sign a job's callbacks: its key's own (KILN_KEY_WEBHOOK_SECRETS), else the global ones. */
export function callbackSecretsFor(
  ownerKeyHash: string,
  config: { KILN_WEBHOOK_SECRET: string; KILN_KEY_WEBHOOK_SECRETS?: Record<string, string[]> },
): string[] {
  return (
    config.KILN_KEY_WEBHOOK_SECRETS?.[keyIdOf(ownerKeyHash)] ??
    config.KILN_WEBHOOK_SECRET.split(',').map((s) => s.trim())
  );
}

/** What a receiver does: recompute and compare in constant time (any `v1=` may match), refusing stale timestamps. */
export function verifyCallback(
  secret: string,
  body: string,
  header: string,
  toleranceS = 300,
  now = Math.floor(Date.now() / 1000),
): boolean {
  const pairs = header.split(',').map((p) => p.trim().split('=', 2) as [string, string]);
  const t = Number(pairs.find(([k]) => k === 't')?.[1]);
  const signatures = pairs.filter(([k, v]) => k === 'v1' && v).map(([, v]) => Buffer.from(v));
  if (!Number.isInteger(t) || !signatures.length || Math.abs(now - t) > toleranceS) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(`${t}.${body}`).digest('hex'));
  return signatures.some((given) => expected.length === given.length && timingSafeEqual(expected, given));
}
