/**
 * Time-limited URLs of a many-file output's files that keep their relative layout: an HLS master
 * playlist names its renditions' playlists (`360p/index.m3u8`) and they name their segments
 * (`segment_000.ts`) by relative URIs, which presigned storage URLs (each signed for one key, the
 * signature in the query) cannot resolve. So the signature sits in the path instead:
 *
 *   <base>/v1/files/<output id>/<expires>/<signature>/<name>
 *
 * and every relative URI resolves to another signed path of the same output. The gateway serves the
 * playlists themselves and redirects every other file to a presigned storage URL (the segments'
 * bytes never pass through it). The signature is an HMAC of the output id and expiry keyed by the
 * job's own token, so it needs no shared secret and dies with the job.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const FILES_ROUTE = '/v1/files';

export function fileSignature(jobToken: string, outputId: string, expires: number): string {
  return createHmac('sha256', jobToken).update(`${outputId}.${expires}`).digest('base64url').slice(0, 32);
}

/** True when `signature` is the output's for `expires` (compared in constant time). */
export function fileSignatureHolds(jobToken: string, outputId: string, expires: number, signature: string): boolean {
  const expected = Buffer.from(fileSignature(jobToken, outputId, expires));
  const given = Buffer.from(String(signature));
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** The signed URL of one file (`name` relative, `/`-separated) of an output, valid until `expires` (epoch s). */
export function signedFileUrl(base: string, jobToken: string, outputId: string, expires: number, name: string): string {
  const path = name.split('/').map(encodeURIComponent).join('/');
  return `${base.replace(/\/$/, '')}${FILES_ROUTE}/${outputId}/${expires}/${fileSignature(jobToken, outputId, expires)}/${path}`;
}

/** Where clients reach the gateway: KILN_PUBLIC_URL, else its own port on this host. */
export function gatewayBaseUrl(config: { KILN_PUBLIC_URL?: string; KILN_PORT: number }): string {
  return (config.KILN_PUBLIC_URL ?? `http://127.0.0.1:${config.KILN_PORT}`).replace(/\/$/, '');
}
