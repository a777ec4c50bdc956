// Requests that go straight to S3 (presigned part URLs, the presigned POST form): plain fetch with no
// Kiln credentials, S3's XML errors read into the CLI's ApiError so the retry policy applies to them.
import type { Readable } from 'node:stream';
import { parseRetryAfter } from '../retry-after';
import { ApiError, networkErrorFrom } from '../api/api-error';

export interface S3RequestInit {
  method: string;
  headers?: Record<string, string>;
  body?: Readable;
  signal?: AbortSignal;
}

/** One request to a presigned S3 URL; network failures become NetworkError (an abort stays an abort). */
export async function s3Fetch(url: string, init: S3RequestInit, what: string): Promise<Response> {
  try {
    return await fetch(url, {
      method: init.method,
      headers: init.headers,
      body: init.body as unknown as RequestInit['body'],
      signal: init.signal,
      ...(init.body ? { duplex: 'half' } : {}),
    } as RequestInit);
  } catch (err: unknown) {
    if (init.signal?.aborted) throw init.signal.reason;
    throw networkErrorFrom(err, what);
  }
}

const tag = (xml: string, name: string) =>
  new RegExp(`<${name}>([^<]*)</${name}>`)
    .exec(xml)?.[1]
    ?.replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&');

/** S3's error answer (`<Error><Code>…</Code><Message>…</Message></Error>`) as an ApiError; never names the URL (it carries a signature). */
export async function s3Error(res: Response, what: string): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  const code = tag(text, 'Code') ?? `http_${res.status}`;
  const message = tag(text, 'Message');
  return new ApiError(
    res.status,
    code,
    `${what}: S3 answered ${res.status} ${code}${message ? ` (${message})` : ''}`,
    [],
    res.headers.get('x-amz-request-id') ?? undefined,
    parseRetryAfter(res.headers.get('retry-after'), Date.now()),
  );
}

/** The hex MD5 an S3 ETag stands for, when it is one (a plain upload or part: `"<32 hex>"`). */
export function etagMd5(etag: string | null | undefined): string | undefined {
  const m = /^(?:W\/)?"?([0-9a-f]{32})"?$/i.exec(etag?.trim() ?? '');
  return m ? m[1].toLowerCase() : undefined;
}
