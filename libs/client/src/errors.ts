// Kiln's error answer, typed: every non-2xx answer is `{"error": {"code", "message", "details"?, "request_id"?}}`.
import type { components } from './schema';

export type KilnErrorBody = components['schemas']['Error'];
/** The codes of Kiln's error table (invalid_input, not_found, rate_limited...). */
export type KilnErrorCode = KilnErrorBody['error']['code'];
export type KilnErrorDetail = NonNullable<KilnErrorBody['error']['details']>[number];

/** A non-2xx answer. `code` is Kiln's code, or `http_error` when the body was not Kiln's error JSON (a proxy's page). */
export class KilnApiError extends Error {
  override readonly name = 'KilnApiError';
  constructor(
    readonly status: number,
    readonly code: KilnErrorCode | 'http_error',
    message: string,
    readonly details: KilnErrorDetail[] = [],
    readonly requestId?: string,
    /** The answer (its body has been read): headers such as Retry-After. */
    readonly response?: Response,
  ) {
    super(message);
  }

  /** From an error answer and its body as openapi-fetch read it (parsed JSON, or text when it was not JSON). */
  static from(response: Response, body: unknown): KilnApiError {
    const requestId = response.headers.get('x-request-id') ?? undefined;
    const e = isErrorBody(body) ? body.error : undefined;
    if (e) {
      const details = Array.isArray(e.details) ? e.details.filter((d) => d && typeof d === 'object') : [];
      return new KilnApiError(response.status, e.code, e.message, details, e.request_id ?? requestId, response);
    }
    const text = typeof body === 'string' ? body : body === undefined ? '' : JSON.stringify(body);
    const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
    return new KilnApiError(
      response.status,
      'http_error',
      `HTTP ${response.status} ${response.statusText}${snippet ? `: ${snippet}` : ''}`,
      [],
      requestId,
      response,
    );
  }
}

function isErrorBody(body: unknown): body is KilnErrorBody {
  const e = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return !!e && typeof e === 'object' && typeof e.code === 'string' && typeof e.message === 'string';
}
