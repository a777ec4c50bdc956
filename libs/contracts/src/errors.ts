/** Error codes of the public API (shared/design/API.md), each mapped to its HTTP status once. */
export const ErrorStatus = {
  invalid_input: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  /** Kiln's addition to API.md's table: a request body that did not arrive in time (slow client). */
  request_timeout: 408,
  conflict: 409,
  job_locked: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  unprocessable: 422,
  /** Kiln's addition: an Idempotency-Key already used with another method, path or body. */
  idempotency_mismatch: 422,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ErrorStatus;

export interface ErrorDetail {
  field?: string;
  message: string;
  [key: string]: unknown;
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: ErrorDetail[]; request_id?: string };
}

/** An expected failure with its API code. Thrown by services, rendered by the gateway's filter. */
export class KilnError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'KilnError';
    this.status = ErrorStatus[code];
  }

  toBody(requestId?: string): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details?.length ? { details: this.details } : {}),
        ...(requestId ? { request_id: requestId } : {}),
      },
    };
  }
}
