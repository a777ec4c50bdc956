// createKilnClient: openapi-fetch over the generated `paths` of Kiln's OpenAPI document, with the API
// key sent on every request, plus a few helpers that answer the data or throw KilnApiError.
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import { KilnApiError } from './errors';
import type { components, paths } from './schema';

type Schemas = components['schemas'];
export type Job = Schemas['Job'];
export type JobList = Schemas['JobList'];
export type Input = Schemas['Input'];
export type Output = Schemas['Output'];
export type Upload = Schemas['Upload'];
export type Target = Schemas['Target'];
export type CreateJobBody = Schemas['CreateJobBody'];
export type CreateUploadBody = Schemas['CreateUploadBody'];
export type JobStatusCode = Job['status']['code'];
export type ListJobsQuery = NonNullable<paths['/v1/jobs']['get']['parameters']['query']>;

/** The statuses a job does not leave. */
/** `?wait=` bounds of the API: at most 300 s per request. */
const MAX_WAIT_SECONDS = 300;
const DEFAULT_WAIT_SECONDS = 60;

export const FINAL_JOB_STATUSES: readonly JobStatusCode[] = ['completed', 'failed', 'canceled'];

export interface KilnClientOptions {
  /** The gateway, e.g. `http://localhost:3000`. */
  baseUrl: string;
  /** Sent as `X-Api-Key`. */
  apiKey?: string;
  /** Another fetch (tests, proxies, retries); called with a Request. */
  fetch?: (input: Request) => Promise<Response>;
  /** Sent on every request (e.g. User-Agent). */
  headers?: Record<string, string>;
}

/** Per call: abort it. */
export interface CallInit {
  signal?: AbortSignal;
}

export interface WaitOptions extends CallInit {
  /** How long the server holds each request (`GET /v1/jobs/{id}?wait=`); 1–300 s, default 60. */
  waitSeconds?: number;
  /** Give up (throws) after this long; default: never. */
  timeoutMs?: number;
  /** Each state answered (one per request: at the job's end, or at each wait's deadline). */
  onPoll?: (job: Job) => void;
}

/** A raw file body: streamed as it is read (a Node Readable is an AsyncIterable). */
export type UploadBody = Blob | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Uint8Array | string;

export interface KilnHelpers {
  createJob(body: CreateJobBody, init?: CallInit): Promise<Job>;
  getJob(id: string, init?: CallInit): Promise<Job>;
  listJobs(query?: ListJobsQuery, init?: CallInit): Promise<JobList>;
  /** PATCH `{process: true}`: start a job created with `process: false`. */
  startJob(id: string, init?: CallInit): Promise<Job>;
  /** DELETE: cancel the job (stored data is deleted). */
  cancelJob(id: string, init?: CallInit): Promise<Job>;
  /** Outputs with time-limited download URLs (`uri`). */
  outputs(jobId: string, init?: CallInit): Promise<Output[]>;
  formats(init?: CallInit): Promise<Target[]>;
  /** A whole file into the job in one request (raw body with X-File-Name); answers the job's Input. */
  uploadFile(jobId: string, filename: string, body: UploadBody, init?: CallInit & { inputId?: string }): Promise<Input>;
  createUpload(body: CreateUploadBody, init?: CallInit): Promise<Upload>;
  getUpload(id: string, init?: CallInit): Promise<Upload>;
  completeUpload(id: string, init?: CallInit): Promise<Upload>;
  /**
   * Waits until the job is completed, failed or canceled and answers that last state: long requests
   * (`?wait=`) that the server answers as soon as the job ends, not a poll every second.
   */
  waitForJob(id: string, options?: WaitOptions): Promise<Job>;
}

/** Every route of the document (`kiln.GET('/v1/jobs/{id}', …)` answers `{data, error, response}`) and the helpers. */
export type KilnClient = Client<paths> & KilnHelpers;

/** Answers the data of a success, or throws KilnApiError with Kiln's error JSON. */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw KilnApiError.from(response, error);
  return data as T;
}

function authMiddleware(apiKey: string): Middleware {
  return {
    onRequest({ request }) {
      request.headers.set('X-Api-Key', apiKey);
      return request;
    },
  };
}

export function createKilnClient(options: KilnClientOptions): KilnClient {
  const fetchFn = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  const api = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    fetch: fetchFn,
    headers: { Accept: 'application/json', ...options.headers },
  });
  if (options.apiKey) api.use(authMiddleware(options.apiKey));
  const id = (value: string) => ({ path: { id: value } });

  const helpers: KilnHelpers = {
    createJob: (body, init) => unwrap(api.POST('/v1/jobs', { body, ...init })),
    getJob: (jobId, init) => unwrap(api.GET('/v1/jobs/{id}', { params: id(jobId), ...init })),
    listJobs: (query, init) => unwrap(api.GET('/v1/jobs', { params: { query }, ...init })),
    startJob: (jobId, init) =>
      unwrap(api.PATCH('/v1/jobs/{id}', { params: id(jobId), body: { process: true }, ...init })),
    cancelJob: (jobId, init) => unwrap(api.DELETE('/v1/jobs/{id}', { params: id(jobId), ...init })),
    outputs: (jobId, init) => unwrap(api.GET('/v1/jobs/{id}/output', { params: id(jobId), ...init })),
    formats: (init) => unwrap(api.GET('/v1/formats', { ...init })),
    uploadFile: async (jobId, filename, body, init) => {
      const answer = await unwrap(
        api.POST('/v1/jobs/{id}/upload', {
          params: {
            ...id(jobId),
            header: {
              'X-File-Name': encodeURIComponent(filename),
              ...(init?.inputId ? { 'X-Input-Id': init.inputId } : {}),
            },
          },
          // The bytes go as they are, streamed: no JSON serialization.
          body: body as unknown as string,
          bodySerializer: (b: unknown) => b,
          headers: { 'Content-Type': 'application/octet-stream' },
          duplex: 'half',
          signal: init?.signal,
        }),
      );
      return answer.input;
    },
    createUpload: (body, init) => unwrap(api.POST('/v1/uploads', { body, ...init })),
    getUpload: (uploadId, init) => unwrap(api.GET('/v1/uploads/{id}', { params: id(uploadId), ...init })),
    completeUpload: (uploadId, init) =>
      unwrap(api.POST('/v1/uploads/{id}/complete', { params: id(uploadId), ...init })),
    waitForJob: async (jobId, o = {}) => {
      const deadline = o.timeoutMs !== undefined ? Date.now() + o.timeoutMs : Number.POSITIVE_INFINITY;
      const most = Math.min(MAX_WAIT_SECONDS, Math.max(1, Math.floor(o.waitSeconds ?? DEFAULT_WAIT_SECONDS)));
      for (;;) {
        const left = Math.ceil((deadline - Date.now()) / 1000);
        const wait = String(Math.max(0, Math.min(most, left)));
        const job = await unwrap(
          api.GET('/v1/jobs/{id}', { params: { ...id(jobId), query: { wait } }, signal: o.signal }),
        );
        o.onPoll?.(job);
        if (FINAL_JOB_STATUSES.includes(job.status.code)) return job;
        if (Date.now() >= deadline) throw new Error(`job ${jobId} is still ${job.status.code} after ${o.timeoutMs} ms`);
      }
    },
  };
  return Object.assign(api, helpers);
}
