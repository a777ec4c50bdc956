import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { KilnError } from '@kiln/contracts';
import { REDIRECT_STATUSES, checkRedirect } from './targets';
import type { TransferClock } from './transfer-clock';
import { guardedLookup, refusedLiteral } from './url-guard';

export interface GuardedRequestOptions {
  method: 'GET' | 'POST';
  headers: Record<string, string | number>;
  /** Sent as the request body (POST). */
  body?: string;
  /** KILN_ALLOW_PRIVATE_URLS: private and reserved addresses are reachable. */
  allowPrivate: boolean;
  clock: TransferClock;
}

/**
 * One request to a user-given URL; resolves with the answer's headers (body unread). Every
 * connection goes through the private-address guard: a literal address is checked here (Node skips
 * `lookup` for IP literals), a host name at connect time by `guardedLookup`, and no pooled socket
 * is used — a reused keep-alive socket (e.g. one the S3 client opened to an internal host of the
 * same name) would skip both. A refused address rejects with a KilnError `invalid_input`.
 */
export function guardedRequest(url: URL, options: GuardedRequestOptions): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const refused = refusedLiteral(url, options.allowPrivate);
    if (refused) return reject(new KilnError('invalid_input', refused));
    const req = (url.protocol === 'https:' ? https : http).request(url, {
      method: options.method,
      agent: false,
      lookup: guardedLookup(options.allowPrivate),
      headers: options.headers,
    });
    req.on('error', reject); // later errors (after the answer) surface on the answer stream instead
    req.once('response', resolve);
    options.clock.watch(req);
    req.end(options.body);
  });
}

export interface FollowedAnswer {
  response: IncomingMessage;
  /** The URL that gave the answer. */
  url: URL;
  redirects: number;
}

/**
 * A GET that follows redirects by hand, at most MAX_REDIRECTS: each Location is resolved against the
 * URL that answered and checked like the first URL (`checkRedirect`), a redirect's body is not read.
 * `url` must have passed `checkTarget`. A hop that cannot be opened rejects with
 * `mapError(error, hop)` (the clock's failure, when it has one, wins).
 */
export async function getFollowingRedirects(
  url: URL,
  options: Omit<GuardedRequestOptions, 'method' | 'body'>,
  mapError: (err: unknown, hop: URL) => unknown = (err) => err,
): Promise<FollowedAnswer> {
  let hop = url;
  for (let redirects = 0; ; ) {
    let response: IncomingMessage;
    try {
      response = await guardedRequest(hop, { ...options, method: 'GET' });
    } catch (err: unknown) {
      throw options.clock.failure ?? mapError(err, hop);
    }
    if (!REDIRECT_STATUSES.has(response.statusCode ?? 0)) return { response, url: hop, redirects };
    response.destroy(); // a redirect's body is not wanted
    redirects += 1;
    hop = checkRedirect(hop, response.headers.location, redirects, options.allowPrivate);
  }
}
