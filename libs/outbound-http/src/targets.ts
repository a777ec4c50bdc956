import { isIP } from 'node:net';
import { isPrivateAddress } from './url-guard';

/** Redirects followed per request; one more is a failure. */
export const MAX_REDIRECTS = 5;
export const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/**
 * A URL Kiln does not request, or a redirect it does not follow. No retry changes the answer.
 * `reason`: `no_location` is the remote's fault (a redirect without a Location); the others are the
 * URL's (not a URL, not http(s), a literal private address, too many redirects).
 */
export class OutboundRefusal extends Error {
  constructor(
    readonly reason: 'invalid_url' | 'scheme' | 'private_address' | 'too_many_redirects' | 'no_location',
    message: string,
  ) {
    super(message);
    this.name = 'OutboundRefusal';
  }
}

/**
 * Every URL a request connects to: http(s) only, and no literal private address unless allowed.
 * Host names are checked at connect time by `guardedLookup` — but Node skips the lookup for IP
 * literals, so those are checked here, on every hop.
 */
export function checkTarget(url: string | URL, allowPrivate: boolean): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new OutboundRefusal('invalid_url', `not a valid URL: ${String(url).slice(0, 200)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new OutboundRefusal('scheme', `the URL scheme ${u.protocol} is not supported (http and https are)`);
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (!allowPrivate && isIP(host) && isPrivateAddress(host)) {
    throw new OutboundRefusal('private_address', `the address ${host} is private, loopback or reserved; it is refused`);
  }
  return u;
}

/**
 * The next hop of a redirect: Location resolved against the URL that answered, hop `hop` (1-based)
 * within MAX_REDIRECTS, and the target checked like the first URL.
 */
export function checkRedirect(
  from: string | URL,
  location: string | undefined,
  hop: number,
  allowPrivate = false,
): URL {
  if (hop > MAX_REDIRECTS) throw new OutboundRefusal('too_many_redirects', `more than ${MAX_REDIRECTS} redirects`);
  if (!location)
    throw new OutboundRefusal('no_location', `${new URL(from).host} answered a redirect without a Location`);
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    throw new OutboundRefusal('invalid_url', `redirect to an invalid URL: ${location.slice(0, 200)}`);
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new OutboundRefusal('scheme', `redirect to the unsupported scheme ${next.protocol} (http and https are)`);
  }
  return checkTarget(next, allowPrivate);
}
