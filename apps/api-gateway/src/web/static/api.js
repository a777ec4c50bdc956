// Calls to this gateway. Credentials: this page never sees the API key. Calls to /web/* ride on the
// HttpOnly session cookie and send `X-Kiln-Web: 1` when they change something; each job's own token
// (returned when the page creates the job) goes in `X-Job-Token` for that job's uploads and events.

/** An answer the page could not use: the HTTP status (0 for the network), the API's error code, Retry-After. */
export class ApiError extends Error {
  constructor(status, message, code, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** The error of a failed answer, from the API's `{ error: { code, message } }` body when there is one. */
export function errorFromAnswer(status, body, retryAfter) {
  const e = body?.error || {};
  return new ApiError(status, e.message || `The server answered ${status}.`, e.code, retryAfter);
}

/** Worth trying again later: the network, a timeout, too many requests, or a server error. */
export const isRetryable = (err) =>
  err.code === 'network' || err.status === 408 || err.status === 429 || err.status >= 500;

/** JSON calls. /web/* calls use the session cookie; a 401 there means the session ended: back to the login. */
export async function api(path, { method = 'GET', json, headers = {} } = {}) {
  const h = new Headers(headers);
  if (method !== 'GET' && path.startsWith('/web/')) h.set('X-Kiln-Web', '1');
  let body;
  if (json !== undefined) {
    h.set('Content-Type', 'application/json');
    body = JSON.stringify(json);
  }
  const res = await fetch(path, { method, headers: h, body, credentials: 'same-origin', cache: 'no-store' });
  if (res.status === 401 && path.startsWith('/web/')) {
    location.replace('/');
    throw new ApiError(401, 'The session has ended.', 'unauthorized');
  }
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw errorFromAnswer(res.status, data, res.headers.get('retry-after'));
  return data;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
