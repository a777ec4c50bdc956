/**
 * How one operation of the document is written: its security (API key, job token, web session or
 * none), the error responses every operation of its kind can answer, and the small builders the
 * path modules share (schema refs, JSON answers, path and header parameters, tags).
 */
import { IDEMPOTENCY_HEADER, takesIdempotencyKey } from '../http/idempotency';
import { errorRefs, type ErrorHttpStatus } from './error-responses';
import { queryParameters, requestBody, type BodyOperation, type QueryOperation } from './request-schemas';

export type Auth = 'key' | 'jobToken' | 'web' | 'public';
const SECURITY: Record<Auth, Record<string, string[]>[] | undefined> = {
  key: undefined, // the document's default: X-Api-Key or Authorization: Bearer
  jobToken: [{ apiKey: [] }, { bearer: [] }, { jobToken: [] }],
  web: [{ webSession: [] }, { apiKey: [] }, { bearer: [] }],
  public: [],
};

export interface Operation {
  summary: string;
  tag: string;
  auth?: Auth;
  /** A JSON body validated by this operation's zod schema (see REQUEST_BODIES). */
  body?: BodyOperation;
  query?: QueryOperation;
  /** Other request bodies (files, forms). */
  content?: Record<string, unknown>;
  parameters?: unknown[];
  ok: Record<string, unknown>;
  /** Error statuses besides the ones every operation of its kind can answer. */
  errors?: ErrorHttpStatus[];
}

/**
 * An operation: every one may answer 500; every authenticated one 401, 429 (rate, failed
 * authentications) and 503 (a dependency unreachable); every JSON body 400, 408, 413 and 415.
 */
export function op(o: Operation): Record<string, unknown> {
  const auth = o.auth ?? 'key';
  const errors: ErrorHttpStatus[] = [...(o.errors ?? []), 500];
  if (auth !== 'public') errors.push(401, 429, 503);
  if (o.body) errors.push(400, 408, 413, 415);
  const parameters = [...(o.query ? queryParameters(o.query) : []), ...(o.parameters ?? [])];
  return {
    summary: o.summary,
    tags: [o.tag],
    ...(SECURITY[auth] ? { security: SECURITY[auth] } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(o.body
      ? { requestBody: requestBody(o.body) }
      : o.content
        ? { requestBody: { required: true, content: o.content } }
        : {}),
    responses: { ...o.ok, ...errorRefs(errors) },
  };
}

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
export const json = (schema: unknown, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
});
export const listOf = (name: string) => json({ type: 'array', items: ref(name) });
export const empty = (description: string) => ({ description });
export const pathParam = (name: string, description?: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string' },
  ...(description ? { description } : {}),
});
export const header = (name: string, description: string, example?: string) => ({
  name,
  in: 'header',
  schema: { type: 'string', ...(example ? { examples: [example] } : {}) },
  description,
});
export const id = pathParam('id');
export const outputId = pathParam('output_id');
export const binary = { schema: { type: 'string', contentMediaType: 'application/octet-stream' } };
export const PRESETS = 'presets';
export const TUS = 'tus';
export const JOBS = 'jobs';
export const UPLOADS = 'uploads';
export const WEB = 'web page';
export const OPS = 'operations';
export const KEYS = 'api keys';

/** README "Idempotent requests": the header of every POST with a JSON (or empty) body, and of the tus creation without bytes. */
export const IDEMPOTENCY_KEY = {
  name: IDEMPOTENCY_HEADER,
  in: 'header',
  required: false,
  schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[!-~]+$' },
  description:
    'Any 1–255 visible ASCII characters, unique per request you mean (e.g. a UUID); scoped to the API key. The first answer to the same key, method, path and body is replayed for 24 h with `Idempotent-Replayed: true`; another body under the key is a 422 `idempotency_mismatch`; while the first is still running, a 409 `conflict` with Retry-After. A malformed key is a 400 naming the header.',
};

/** Adds the Idempotency-Key header (and its 409, 422 answers) to every POST the gateway fingerprints. */
export function withIdempotencyKey<T extends object>(paths: T): T {
  for (const [path, operations] of Object.entries(paths as Record<string, Record<string, unknown>>)) {
    const post = operations.post as { parameters?: unknown[]; responses: Record<string, unknown> } | undefined;
    if (!post || !takesIdempotencyKey({ method: 'POST', path: path.replace(/\{[^}]+\}/g, 'id'), headers: {} }))
      continue;
    post.parameters = [...(post.parameters ?? []), IDEMPOTENCY_KEY];
    post.responses = { ...post.responses, ...errorRefs([409, 422]) };
  }
  return paths;
}
