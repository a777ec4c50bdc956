import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { KilnError } from '@kiln/contracts';

/**
 * Outbound requests to user-given URLs (remote inputs, callbacks) must not reach the service's own
 * network: loopback, private, link-local (cloud metadata at 169.254.169.254), CGNAT, multicast and
 * reserved ranges are refused unless KILN_ALLOW_PRIVATE_URLS is set. For host names the check runs
 * inside the socket's DNS lookup, so what is checked is what is connected to (no rebinding window);
 * Node skips `lookup` for IP literals, so callers check those with `refusedLiteral` on every request,
 * and use no pooled sockets (`agent: false`), which would skip both.
 */
const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128], ['::1', 128], ['::', 96] /* IPv4-compatible */, ['fc00::', 7], ['fe80::', 10], ['ff00::', 8],
  ['64:ff9b::', 96], ['2001:db8::', 32], ['2002::', 16] /* 6to4 */, ['2001::', 32] /* Teredo */,
] as const) blocked.addSubnet(net, bits, 'ipv6');

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return blocked.check(mapped[1], 'ipv4');
    return blocked.check(address, 'ipv6');
  }
  return true;
}

/** A DNS lookup for http(s).request that refuses private addresses (all resolved ones are checked). */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 4);
      const list = addresses as unknown as LookupAddress[];
      if (!allowPrivate) {
        const bad = list.find((a) => isPrivateAddress(a.address));
        if (bad) {
          const e = new KilnError('invalid_input', `The URL's host ${hostname} resolves to a private or reserved address (${bad.address}); it is refused.`);
          return callback(e as unknown as NodeJS.ErrnoException, '', 4);
        }
      }
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      const first = list[0];
      if (!first) return callback(new Error(`no address for ${hostname}`) as NodeJS.ErrnoException, '', 4);
      callback(null, first.address, first.family);
    });
  };
}

/** Quick request-time check of a URL literal (IP hosts and obvious names); DNS is checked again on connect. */
export function assertPublicUrlLiteral(url: string, allowPrivate: boolean, field: string): void {
  if (allowPrivate) return;
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if ((isIP(host) && isPrivateAddress(host)) || /^(localhost|.*\.localhost|.*\.internal|metadata\.google\.internal)$/i.test(host)) {
    throw new KilnError('invalid_input', `Invalid body: ${field}: private or loopback addresses are not allowed`, [
      { field, message: 'private, loopback, link-local and metadata addresses are refused' },
    ]);
  }
}

/** For an IP-literal host: the refusal reason when it is private and not allowed, else undefined. */
export function refusedLiteral(url: URL, allowPrivate: boolean): string | undefined {
  if (allowPrivate) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && isPrivateAddress(host)) return `The URL's host ${host} is a private or reserved address; it is refused.`;
  return undefined;
}
