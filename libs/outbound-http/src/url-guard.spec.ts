import type { LookupAddress } from 'node:dns';
import { KilnError } from '@kiln/contracts';
import { assertPublicUrlLiteral, guardedLookup, isPrivateAddress } from './url-guard';

describe('isPrivateAddress', () => {
  it.each([
    '127.0.0.1',
    '127.255.255.254',
    '0.0.0.0',
    '10.0.0.1',
    '10.255.255.255',
    '172.16.0.1',
    '172.31.255.254',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '100.127.255.254',
    '224.0.0.1',
    '::1',
    '::',
    'fe80::1',
    'fc00::1',
    'fd12:3456::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1', // the same, as the URL parser writes it
    '::ffff:10.0.0.1',
    'not-an-ip',
  ])('%s is private', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.15.255.255',
    '172.32.0.1',
    '100.63.255.255',
    '100.128.0.1',
    '2606:4700::1111',
    '::ffff:8.8.8.8',
  ])('%s is public', (address) => {
    expect(isPrivateAddress(address)).toBe(false);
  });
});

describe('assertPublicUrlLiteral', () => {
  it.each([
    'http://127.0.0.1/',
    'http://127.0.0.1:8080/file.mp4',
    'http://10.0.0.1/x',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[fe80::1]/',
    'http://localhost/',
    'http://LOCALHOST:3000/',
    'http://app.localhost/',
    'http://db.internal/',
    'http://metadata.google.internal/computeMetadata/v1/',
    'http://0x7f000001/', // WHATWG URL normalises it to 127.0.0.1
    'http://2130706433/',
  ])('refuses %s', (url) => {
    let thrown: unknown;
    try {
      assertPublicUrlLiteral(url, false, 'input.0.source');
    } catch (err: unknown) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(KilnError);
    expect((thrown as KilnError).code).toBe('invalid_input');
    expect((thrown as KilnError).details?.[0]?.field).toBe('input.0.source');
  });

  it.each(['https://example.com/video.mp4', 'http://8.8.8.8/x', 'http://[2606:4700::1111]/'])('accepts %s', (url) => {
    expect(() => assertPublicUrlLiteral(url, false, 'callback')).not.toThrow();
  });

  it('accepts anything when private URLs are allowed', () => {
    expect(() => assertPublicUrlLiteral('http://127.0.0.1/', true, 'callback')).not.toThrow();
    expect(() => assertPublicUrlLiteral('http://localhost/', true, 'callback')).not.toThrow();
  });
});

describe('guardedLookup', () => {
  function lookup(
    allowPrivate: boolean,
    host: string,
    all: boolean,
  ): Promise<{ err: NodeJS.ErrnoException | null; result: unknown }> {
    return new Promise((resolve) => {
      guardedLookup(allowPrivate)(host, { all }, (err: NodeJS.ErrnoException | null, address: unknown) =>
        resolve({ err, result: address }),
      );
    });
  }

  it.each([false, true])('refuses localhost when private addresses are not allowed (all: %s)', async (all) => {
    const { err } = await lookup(false, 'localhost', all);
    expect(err).toBeInstanceOf(KilnError);
    expect((err as unknown as KilnError).code).toBe('invalid_input');
    expect(err?.message).toMatch(/localhost resolves to a private or reserved address/);
  });

  it('resolves localhost when private addresses are allowed', async () => {
    const one = await lookup(true, 'localhost', false);
    expect(one.err).toBeNull();
    expect(isPrivateAddress(one.result as string)).toBe(true);
    const all = await lookup(true, 'localhost', true);
    expect(all.err).toBeNull();
    expect((all.result as LookupAddress[]).length).toBeGreaterThan(0);
  });

  it('passes DNS errors through', async () => {
    const { err } = await lookup(false, 'no-such-host.invalid', false);
    expect(err).not.toBeNull();
    expect(err).not.toBeInstanceOf(KilnError);
  });
});
