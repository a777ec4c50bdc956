import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { KilnError } from '@kiln/contracts';
import { specialPurposeOf } from './special-addresses';

/**
 * Outbound requests to user-given URLs (remote inputs, callbacks) must not reach the service's own
 * network: every block of the IANA special-purpose address registries (loopback, private, link-local
 * with cloud metadata at 169.254.169.254, CGNAT, multicast, documentation, reserved; IPv4-mapped,
 * NAT64 and 6to4 addresses by the IPv4 address they carry; see special-addresses.ts) is refused unless
 * KILN_ALLOW_PRIVATE_URLS is set. For host names the check runs
 * inside the socket's DNS lookup, so what is checked is what is connected to (no rebinding window);
 * Node skips `lookup` for IP literals, so callers check those with `refusedLiteral` on every request,
 * and use no pooled sockets (`agent: false`), which would skip both.
 */
export function isPrivateAddress(address: string): boolean {
  return specialPurposeOf(address) !== undefined;
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
          const e = new KilnError(
            'invalid_input',
            `The URL's host ${hostname} resolves to a private or reserved address (${bad.address}, ${specialPurposeOf(bad.address)}); it is refused.`,
          );
          return callback(e as unknown as NodeJS.ErrnoException, '', 4);
        }
      }
      if ((options as { all?: boolean }).all)
        return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
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
  if (
    (isIP(host) && isPrivateAddress(host)) ||
    /^(localhost|.*\.localhost|.*\.internal|metadata\.google\.internal)$/i.test(host)
  ) {
    throw new KilnError('invalid_input', `Invalid body: ${field}: private or loopback addresses are not allowed`, [
      { field, message: 'private, loopback, link-local and metadata addresses are refused' },
    ]);
  }
}

/** For an IP-literal host: the refusal reason when it is private and not allowed, else undefined. */
export function refusedLiteral(url: URL, allowPrivate: boolean): string | undefined {
  if (allowPrivate) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && isPrivateAddress(host))
    return `The URL's host ${host} is a private or reserved address (${specialPurposeOf(host)}); it is refused.`;
  return undefined;
}
