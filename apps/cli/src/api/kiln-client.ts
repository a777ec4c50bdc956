// The CLI's client of Kiln's public API (shared/design/API.md): the JSON routes go through the typed
// client generated from the OpenAPI document (@kiln/client), with the CLI's retry policy and errors;
// chunk bytes and the event stream go through `send` (plain fetch, the body streamed).
import type { Readable } from 'node:stream';
import type { TargetSpec } from '@kiln/contracts';
import { createKilnClient, KilnApiError, type KilnClient as TypedKilnClient, type ListJobsQuery } from '@kiln/client';
import { parseRetryAfter } from '../retry-after';
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from './retry';
import { ApiError, apiErrorFrom, NetworkError, networkErrorFrom } from './api-error';
import type {
  CreateDirectUploadBody,
  CreateJobBody,
  CreateUploadBody,
  DirectUploadView,
  JobList,
  JobView,
  OutputView,
  SignedParts,
  UploadModes,
  UploadView,
} from './types';

export interface KilnClientOptions {
  url: string;
  apiKey?: string;
  /** Aborts every request (Ctrl-C). */
  signal?: AbortSignal;
  retry?: RetryPolicy;
  onRetry?: (what: string, err: unknown, attempt: number, delayMs: number) => void;
  userAgent?: string;
}

interface CallOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Default: every method but POST. */
  idempotent?: boolean;
  signal?: AbortSignal;
}

/** Every call answers the parsed JSON, or throws ApiError / NetworkError after bounded retries. */
export class KilnClient {
  readonly url: string;
  /** The typed client of every route (`ctx.api.typed.GET('/v1/jobs/{id}', …)`), without the CLI's retries. */
  readonly typed: TypedKilnClient;
  private readonly retry: RetryPolicy;

  constructor(private readonly options: KilnClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.typed = createKilnClient({
      baseUrl: this.url,
      apiKey: options.apiKey,
      headers: { 'User-Agent': options.userAgent ?? 'kiln-cli' },
    });
    this.typed.use({ onResponse: ({ request, response }) => checkedJson(request, response) });
  }

  get hasApiKey(): boolean {
    return !!this.options.apiKey;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      Accept: 'application/json',
      'User-Agent': this.options.userAgent ?? 'kiln-cli',
      ...(this.options.apiKey ? { 'X-Api-Key': this.options.apiKey } : {}),
      ...extra,
    };
  }

  private link(signal?: AbortSignal): AbortSignal | undefined {
    const signals = [this.options.signal, signal].filter((s): s is AbortSignal => !!s);
    return signals.length > 1 ? AbortSignal.any(signals) : signals[0];
  }

  /** One fetch; network failures become NetworkError (an abort stays an abort). */
  async send(
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: RequestInit['body'] | Readable; signal?: AbortSignal } = {},
  ): Promise<Response> {
    const signal = this.link(init.signal);
    try {
      return await fetch(`${this.url}${path}`, {
        method,
        headers: this.headers(init.headers),
        body: init.body as RequestInit['body'],
        signal,
        ...(init.body && typeof (init.body as Readable).pipe === 'function' ? { duplex: 'half' } : {}),
      } as RequestInit);
    } catch (err: unknown) {
      if (signal?.aborted) throw signal.reason;
      throw networkErrorFrom(err, `${method} ${this.url}${path}`);
    }
  }

  /** Any JSON route by its path (routes the typed client does not know yet): the parsed answer, with retries. */
  async call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    const query = Object.entries(options.query ?? {}).filter((e): e is [string, string | number] => e[1] !== undefined);
    const full = query.length
      ? `${path}?${new URLSearchParams(query.map(([k, v]): [string, string] => [k, String(v)]))}`
      : path;
    const idempotent = options.idempotent ?? method !== 'POST';
    return withRetry(
      async () => {
        const res = await this.send(method, full, {
          headers: options.body !== undefined ? { 'Content-Type': 'application/json' } : {},
          body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
          signal: options.signal,
        });
        return readJson<T>(res, `${method} ${full}`);
      },
      this.retry,
      {
        idempotent,
        signal: this.link(options.signal),
        onRetry: (err, attempt, delay) => this.options.onRetry?.(`${method} ${path}`, err, attempt, delay),
      },
    );
  }

  /**
   * One call of the typed client with the CLI's retry policy; its failures become the CLI's ApiError
   * (Kiln's error JSON, Retry-After) or NetworkError, an abort stays an abort.
   */
  private typedCall<T>(
    method: string,
    path: string,
    work: (init: { signal?: AbortSignal }) => Promise<T>,
    o: { idempotent: boolean; signal?: AbortSignal },
  ): Promise<T> {
    const signal = this.link(o.signal);
    return withRetry(
      async () => {
        try {
          return await work({ signal });
        } catch (err: unknown) {
          if (signal?.aborted) throw signal.reason;
          if (err instanceof KilnApiError) throw apiErrorOfKiln(err);
          if (err instanceof ApiError || err instanceof NetworkError) throw err;
          throw networkErrorFrom(err, `${method} ${this.url}${path}`);
        }
      },
      this.retry,
      {
        idempotent: o.idempotent,
        signal,
        onRetry: (err, attempt, delay) => this.options.onRetry?.(`${method} ${path}`, err, attempt, delay),
      },
    );
  }

  /**
   * The catalog, typed as libs/contracts' TargetSpec: the document's `Target` schema leaves its fields
   * optional and its options untyped, the catalog's own type says what the gateway sends.
   */
  async formats(): Promise<TargetSpec[]> {
    const targets = await this.typedCall('GET', '/v1/formats', (init) => this.typed.formats(init), {
      idempotent: true,
    });
    return targets as TargetSpec[];
  }

  createJob(body: CreateJobBody): Promise<JobView> {
    return this.typedCall('POST', '/v1/jobs', (init) => this.typed.createJob(body, init), { idempotent: false });
  }

  getJob(id: string, signal?: AbortSignal): Promise<JobView> {
    return this.typedCall('GET', `/v1/jobs/${enc(id)}`, (init) => this.typed.getJob(id, init), {
      idempotent: true,
      signal,
    });
  }

  listJobs(query: ListJobsQuery): Promise<JobList> {
    return this.typedCall('GET', '/v1/jobs', (init) => this.typed.listJobs(query, init), { idempotent: true });
  }

  startJob(id: string): Promise<JobView> {
    return this.typedCall('PATCH', `/v1/jobs/${enc(id)}`, (init) => this.typed.startJob(id, init), {
      idempotent: true,
    });
  }

  cancelJob(id: string): Promise<JobView> {
    return this.typedCall('DELETE', `/v1/jobs/${enc(id)}`, (init) => this.typed.cancelJob(id, init), {
      idempotent: true,
    });
  }

  outputs(id: string): Promise<OutputView[]> {
    return this.typedCall('GET', `/v1/jobs/${enc(id)}/output`, (init) => this.typed.outputs(id, init), {
      idempotent: true,
    });
  }

  createUpload(body: CreateUploadBody): Promise<UploadView> {
    return this.typedCall('POST', '/v1/uploads', (init) => this.typed.createUpload(body, init), { idempotent: false });
  }

  getUpload(id: string): Promise<UploadView> {
    return this.typedCall('GET', `/v1/uploads/${enc(id)}`, (init) => this.typed.getUpload(id, init), {
      idempotent: true,
    });
  }

  completeUpload(id: string): Promise<UploadView> {
    return this.typedCall('POST', `/v1/uploads/${enc(id)}/complete`, (init) => this.typed.completeUpload(id, init), {
      idempotent: true,
    });
  }

  // ---- direct uploads: routes not in the generated schema yet, called through `call` ----------

  /** `GET /v1/uploads/modes`: which upload modes the server offers. */
  uploadModes(): Promise<UploadModes> {
    return this.call<UploadModes>('GET', '/v1/uploads/modes');
  }

  /** `POST /v1/uploads` with `mode: "direct"`: a session whose bytes go straight to S3. */
  createDirectUpload(body: CreateDirectUploadBody): Promise<DirectUploadView> {
    return this.call<DirectUploadView>('POST', '/v1/uploads', { body });
  }

  /** `GET /v1/uploads/{id}` read with the direct-upload fields (`mode`, `transfer`, `parts`, the form). */
  getUploadSession(id: string): Promise<DirectUploadView> {
    return this.call<DirectUploadView>('GET', `/v1/uploads/${enc(id)}`);
  }

  /** `POST /v1/uploads/{id}/parts`: presigned PUT URLs of these parts (signing again gives fresh ones). */
  signParts(id: string, partNumbers: number[], signal?: AbortSignal): Promise<SignedParts> {
    // Signing changes nothing stored: safe to retry.
    return this.call<SignedParts>('POST', `/v1/uploads/${enc(id)}/parts`, {
      body: { part_numbers: partNumbers },
      idempotent: true,
      signal,
    });
  }

  /** `POST /v1/uploads/{id}/complete` read with the direct-upload fields. */
  completeUploadSession(id: string, signal?: AbortSignal): Promise<DirectUploadView> {
    return this.call<DirectUploadView>('POST', `/v1/uploads/${enc(id)}/complete`, { idempotent: true, signal });
  }

  /** One chunk, streamed (no retry here: the caller makes a fresh body for each try). */
  async putChunk(
    id: string,
    range: { start: number; end: number },
    total: number,
    body: Readable,
    signal?: AbortSignal,
  ): Promise<UploadView> {
    const path = `/v1/uploads/${encodeURIComponent(id)}`;
    const res = await this.send('PUT', path, {
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Range': `bytes ${range.start}-${range.end}/${total}`,
        'Content-Length': String(range.end - range.start + 1),
      },
      body,
      signal,
    });
    return readJson<UploadView>(res, `PUT ${path}`);
  }

  /** `GET /v1/jobs/{id}/events`: the open event stream (an error answer throws ApiError). */
  async openEvents(id: string, signal?: AbortSignal): Promise<Response> {
    const res = await this.send('GET', `/v1/jobs/${encodeURIComponent(id)}/events`, {
      headers: { Accept: 'text/event-stream' },
      signal,
    });
    if (!res.ok) throw await apiErrorFrom(res);
    return res;
  }
}

const enc = encodeURIComponent;

/** The CLI's ApiError of the typed client's error (Retry-After read from the answer). */
function apiErrorOfKiln(err: KilnApiError): ApiError {
  const retryAfterMs = parseRetryAfter(err.response?.headers.get('retry-after') ?? null, Date.now());
  return new ApiError(err.status, err.code, err.message, err.details, err.requestId, retryAfterMs);
}

/**
 * A success answer's body read once and checked to be JSON, so a body that breaks off is a
 * NetworkError and one that is not JSON an ApiError (`invalid_answer`) naming the call; the event
 * stream and bodiless answers pass as they are.
 */
async function checkedJson(request: Request, response: Response): Promise<Response> {
  if (!response.ok || response.status === 204 || !response.body) return response;
  if (response.headers.get('content-type')?.startsWith('text/event-stream')) return response;
  const what = `${request.method} ${new URL(request.url).pathname}`;
  let text: string;
  try {
    text = await response.text();
  } catch (err: unknown) {
    throw networkErrorFrom(err, what);
  }
  try {
    JSON.parse(text);
  } catch {
    throw new ApiError(
      response.status,
      'invalid_answer',
      `${what} answered ${response.status} with a body that is not JSON`,
    );
  }
  return new Response(text, { status: response.status, statusText: response.statusText, headers: response.headers });
}

async function readJson<T>(res: Response, what: string): Promise<T> {
  if (!res.ok) throw await apiErrorFrom(res);
  if (res.status === 204) return undefined as T;
  let text: string;
  try {
    text = await res.text();
  } catch (err: unknown) {
    throw networkErrorFrom(err, what);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(res.status, 'invalid_answer', `${what} answered ${res.status} with a body that is not JSON`);
  }
}
