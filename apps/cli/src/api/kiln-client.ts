// A small HTTP client of Kiln's public API (shared/design/API.md) over fetch.
import type { Readable } from 'node:stream';
import type { TargetSpec } from '@kiln/contracts';
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from './retry';
import { ApiError, apiErrorFrom, networkErrorFrom } from './api-error';
import type { CreateJobBody, CreateUploadBody, JobList, JobView, OutputView, UploadView } from './types';

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
  private readonly retry: RetryPolicy;

  constructor(private readonly options: KilnClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.retry = options.retry ?? DEFAULT_RETRY;
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

  formats(): Promise<TargetSpec[]> {
    return this.call('GET', '/v1/formats');
  }

  createJob(body: CreateJobBody): Promise<JobView> {
    return this.call('POST', '/v1/jobs', { body });
  }

  getJob(id: string, signal?: AbortSignal): Promise<JobView> {
    return this.call('GET', `/v1/jobs/${encodeURIComponent(id)}`, { signal });
  }

  listJobs(query: { status?: string; limit?: number; cursor?: string }): Promise<JobList> {
    return this.call('GET', '/v1/jobs', { query });
  }

  startJob(id: string): Promise<JobView> {
    return this.call('PATCH', `/v1/jobs/${encodeURIComponent(id)}`, { body: { process: true } });
  }

  cancelJob(id: string): Promise<JobView> {
    return this.call('DELETE', `/v1/jobs/${encodeURIComponent(id)}`);
  }

  outputs(id: string): Promise<OutputView[]> {
    return this.call('GET', `/v1/jobs/${encodeURIComponent(id)}/output`);
  }

  createUpload(body: CreateUploadBody): Promise<UploadView> {
    return this.call('POST', '/v1/uploads', { body });
  }

  getUpload(id: string): Promise<UploadView> {
    return this.call('GET', `/v1/uploads/${encodeURIComponent(id)}`);
  }

  completeUpload(id: string): Promise<UploadView> {
    return this.call('POST', `/v1/uploads/${encodeURIComponent(id)}/complete`, { idempotent: true });
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
