import { createHmac } from 'node:crypto';
import { callbackSecretsFor, keyIdOf, signCallback, verifyCallback } from './callback-signature';

const BODY = '{"id":"6f1c2a8e","status":"completed"}';
const T = 1_780_000_000;

describe('callback signatures', () => {
  it('signs "<t>.<body>" with HMAC-SHA256, as a receiver recomputes it', () => {
    const expected = createHmac('sha256', 'whsec_a').update(`${T}.${BODY}`).digest('hex');
    expect(signCallback('whsec_a', BODY, T)).toBe(`t=${T},v1=${expected}`);
    expect(verifyCallback('whsec_a', BODY, signCallback('whsec_a', BODY, T), 300, T + 10)).toBe(true);
  });

  it('during a rotation both secrets sign, and a receiver holding either accepts', () => {
    const header = signCallback(['whsec_new', 'whsec_old'], BODY, T);
    expect(header.split(',').filter((p) => p.startsWith('v1='))).toHaveLength(2);
    expect(verifyCallback('whsec_new', BODY, header, 300, T)).toBe(true);
    expect(verifyCallback('whsec_old', BODY, header, 300, T)).toBe(true);
    expect(verifyCallback('whsec_other', BODY, header, 300, T)).toBe(false);
  });

  it('refuses a changed body, a stale or missing timestamp, and a header without v1', () => {
    const header = signCallback('whsec_a', BODY, T);
    expect(verifyCallback('whsec_a', `${BODY} `, header, 300, T)).toBe(false);
    expect(verifyCallback('whsec_a', BODY, header, 300, T + 301)).toBe(false);
    expect(verifyCallback('whsec_a', BODY, header.replace(`t=${T},`, ''), 300, T)).toBe(false);
    expect(verifyCallback('whsec_a', BODY, `t=${T}`, 300, T)).toBe(false);
  });

  it("a job's key's own secrets win over the global ones (trimmed, comma-separated)", () => {
    const owner = 'c'.repeat(64);
    const config = {
      KILN_WEBHOOK_SECRET: 'whsec_1, whsec_2',
      KILN_KEY_WEBHOOK_SECRETS: { [keyIdOf(owner)]: ['whsec_key'] },
    };
    expect(keyIdOf(owner)).toBe('c'.repeat(12));
    expect(callbackSecretsFor(owner, config)).toEqual(['whsec_key']);
    expect(callbackSecretsFor('d'.repeat(64), config)).toEqual(['whsec_1', 'whsec_2']);
  });
});
