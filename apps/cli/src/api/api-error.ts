// Failures talking to the API: an answer with the API's error JSON, or no answer at all.
import type { ErrorDetail } from '@kiln/contracts';
import { parseRetryAfter } from '../retry-after';

/** A non-2xx answer: `{"error": {"code", "message", "details"?, "request_id"?}}` (shared/design/API.md). */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
    readonly requestId?: string,
    /** From Retry-After (429, 503). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** No answer: connection refused or reset, DNS, a stream cut mid-way. */
export class NetworkError extends Error {
  override readonly name = 'NetworkError';
  constructor(
    message: string,
    /** Nothing reached the server (connection refused, unknown host): safe to retry any request. */
    readonly beforeRequest: boolean,
  ) {
    super(message);
  }
}

/** The job ended badly (failed or canceled); `errors` are the job's errors[]. */
export class JobFailedError extends Error {
  override readonly name = 'JobFailedError';
  constructor(
    readonly jobId: string,
    readonly status: string,
    readonly errors: { code: string; message: string; source?: string }[],
    /** Outputs that were saved all the same (a job with several inputs, some of which failed). */
    readonly saved: { path: string }[] = [],
  ) {
    super(`job ${jobId} ${status}${errors.length ? `: ${errors.map((e) => e.message).join('; ')}` : ''}`);
  }
}

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Wraps what fetch throws (TypeError "fetch failed" with a cause) into a NetworkError naming the cause. */
export function networkErrorFrom(err: unknown, what: string): NetworkError {
  const cause = (err as { cause?: unknown })?.cause ?? err;
  const code = (cause as { code?: string })?.code;
  const text = code ?? (cause instanceof Error ? cause.message : String(cause));
  return new NetworkError(`${what}: ${text}`, code !== undefined && CONNECT_CODES.has(code));
}

/** Reads an error answer into an ApiError (a non-JSON body still gives a readable message). */
export async function apiErrorFrom(res: Response): Promise<ApiError> {
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), Date.now());
  const requestId = res.headers.get('x-request-id') ?? undefined;
  let text = '';
  try {
    text = await res.text();
  } catch {
    /* the body broke off: the status is all there is */
  }
  try {
    const body = JSON.parse(text) as {
      error?: { code?: unknown; message?: unknown; details?: unknown; request_id?: unknown };
    };
    const e = body.error;
    if (e && typeof e.message === 'string') {
      const details = Array.isArray(e.details)
        ? (e.details.filter((d) => d && typeof d === 'object') as ErrorDetail[])
        : [];
      return new ApiError(
        res.status,
        typeof e.code === 'string' ? e.code : 'unknown',
        e.message,
        details,
        typeof e.request_id === 'string' ? e.request_id : requestId,
        retryAfterMs,
      );
    }
  } catch {
    /* not JSON */
  }
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  return new ApiError(
    res.status,
    'http_error',
    `HTTP ${res.status} ${res.statusText}${snippet ? `: ${snippet}` : ''}`,
    [],
    requestId,
    retryAfterMs,
  );
}

/** The lines printed on stderr for a failure: the message, then each field detail, then the request id. */
export function describeFailure(err: unknown): string[] {
  if (err instanceof ApiError) {
    const lines = [err.message];
    for (const d of err.details) {
      const line = d.field ? `${d.field}: ${d.message}` : d.message;
      if (line && !err.message.endsWith(line)) lines.push(`  ${line}`);
    }
    if (err.requestId) lines.push(`  (HTTP ${err.status} ${err.code}, request id ${err.requestId})`);
    else lines.push(`  (HTTP ${err.status} ${err.code})`);
    return lines;
  }
  if (err instanceof JobFailedError) {
    const lines = [`job ${err.jobId} ${err.status}`];
    for (const e of err.errors) lines.push(`  ${e.code}: ${e.message}`);
    if (err.saved.length) lines.push(`  saved all the same: ${err.saved.map((s) => s.path).join(', ')}`);
    return lines;
  }
  if (err instanceof NetworkError && err.beforeRequest)
    return [err.message, '  is a Kiln server running there? Set its address with --url, KILN_URL or the config file.'];
  if (err instanceof Error) return [err.message];
  return [String(err)];
}

/** The JSON printed on stdout with --json when a command fails. */
export function failureJson(err: unknown): { error: Record<string, unknown> } {
  if (err instanceof ApiError) {
    return {
      error: {
        code: err.code,
        status: err.status,
        message: err.message,
        ...(err.details.length ? { details: err.details } : {}),
        ...(err.requestId ? { request_id: err.requestId } : {}),
      },
    };
  }
  if (err instanceof JobFailedError) {
    return {
      error: {
        code: `job_${err.status}`,
        message: err.message,
        job_id: err.jobId,
        errors: err.errors,
        ...(err.saved.length ? { outputs: err.saved } : {}),
      },
    };
  }
  if (err instanceof NetworkError) return { error: { code: 'network', message: err.message } };
  return { error: { code: 'cli', message: err instanceof Error ? err.message : String(err) } };
}
