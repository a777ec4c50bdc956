// S3 errors: the one parser of S3's XML error documents, the error raised on the raw HTTP path, and
// how the adapter classifies what a request threw (minio-js's S3Error, ours, or a socket error).

/** An S3 error answer (or a failed S3 request) on the raw HTTP path. */
export class S3RequestError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = 'S3RequestError';
  }
}

/** What an S3 error document says. */
export interface S3ErrorBody {
  /** `<Code>`, e.g. NoSuchKey; undefined when the document has none. */
  code?: string;
  /** `<Message>`; undefined when missing or empty (radosgw 16 sends `<Message></Message>` for most codes). */
  message?: string;
}

/**
 * Reads an S3 error document:
 * `<?xml …?><Error><Code>NoSuchKey</Code><Message>…</Message>…</Error>`. Returns undefined when `text`
 * holds no `<Error>` element: a success document, an empty body (HEAD, or an answer cut short), or
 * a page that is not S3's (a proxy's). S3 can answer 200 and still send an `<Error>` (CopyObject,
 * CompleteMultipartUpload), so callers check the body, not only the status.
 */
export function parseS3Error(text: string): S3ErrorBody | undefined {
  const start = /<Error[\s>]/.exec(text);
  if (!start) return undefined;
  // Only the <Error> element's own children: the answer may be cut short, so its end is optional.
  const rest = text.slice(start.index);
  const end = rest.indexOf('</Error>');
  const element = end < 0 ? rest : rest.slice(0, end);
  return { code: childText(element, 'Code'), message: childText(element, 'Message') };
}

function childText(xml: string, name: 'Code' | 'Message'): string | undefined {
  const match = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return match ? decodeXmlText(match[1]).trim() || undefined : undefined;
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeXmlText(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (entity: string, name: string) => {
    if (name[0] !== '#') return XML_ENTITIES[name] ?? entity;
    const codePoint = name[1] === 'x' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
    return codePoint <= 0x10ffff ? String.fromCodePoint(codePoint) : entity;
  });
}

/** The S3RequestError for a failed raw request: `<what> failed: <status> <code>`. */
export function answerError(what: string, status: number, code: string | undefined): S3RequestError {
  return new S3RequestError(`${what} failed: ${status} ${code ?? ''}`.trim(), code ?? `HTTP${status}`, status);
}

/** The `code` of a thrown error: an S3 code (minio-js's S3Error, S3RequestError) or a socket errno. */
export function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** An object (or the key of a HEAD) that does not exist: NoSuchKey from GET, NotFound from HEAD. */
export function isNotFound(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'NoSuchKey' || code === 'NotFound';
}

/**
 * Worth another attempt with the same bytes: a 5xx, an idle timeout, a dropped or refused connection.
 * Also what callers read as "the storage server is unavailable" (an outage that ends by itself).
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof S3RequestError) {
    return err.statusCode === undefined ? err.code === 'RequestTimeout' : err.statusCode >= 500;
  }
  const code = errorCode(err);
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNREFUSED' || code === 'ETIMEDOUT';
}

const MINIO_GAVE_UP = /^Request failed after \d+ retries: Error: Retryable HTTP status: (\d{3})$/;

/**
 * minio-js (8.0.7) retries an answer of 408, 429, 499, 500, 502, 503, 504 or 520 once, then throws
 * a plain Error that names the status only in its message ("Request failed after 1 retries: Error:
 * Retryable HTTP status: 503"), with no code: an S3 outage looked like a bug (the gateway answered
 * 500). Such an error becomes an S3RequestError with its status (an outage: 503 `unavailable` at the
 * gateway, a retry in the workers); any other error is returned as it is.
 */
export function fromMinioError(err: unknown): unknown {
  if (!(err instanceof Error) || errorCode(err) !== undefined) return err;
  const status = MINIO_GAVE_UP.exec(err.message)?.[1];
  if (!status) return err;
  const code = status === '503' ? 'ServiceUnavailable' : status === '500' ? 'InternalError' : `HTTP${status}`;
  const wrapped = new S3RequestError(`S3 answered ${status} ${code} (${err.message})`, code, Number(status));
  wrapped.cause = err;
  return wrapped;
}
