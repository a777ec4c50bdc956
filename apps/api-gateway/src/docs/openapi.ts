import { answerSchemas } from './answer-schemas';
import { ERROR_SCHEMA, errorRefs, errorResponses, type ErrorHttpStatus } from './error-responses';
import {
  queryParameters,
  requestBody,
  requestBodySchemas,
  type BodyOperation,
  type QueryOperation,
} from './request-schemas';

/**
 * The OpenAPI 3.1 document of the public API (shared/design/API.md and README's additions). Request
 * bodies and query strings are generated from the zod schemas the routes validate with
 * (request-schemas.ts); answers are the views of libs/contracts (answer-schemas.ts); errors are one
 * `Error` schema with a response per status (error-responses.ts). openapi.spec.ts fails when a route of
 * the gateway is missing here, or a body here differs from its schema.
 */

type Auth = 'key' | 'jobToken' | 'web' | 'public';
const SECURITY: Record<Auth, Record<string, string[]>[] | undefined> = {
  key: undefined, // the document's default: X-Api-Key or Authorization: Bearer
  jobToken: [{ apiKey: [] }, { bearer: [] }, { jobToken: [] }],
  web: [{ webSession: [] }, { apiKey: [] }, { bearer: [] }],
  public: [],
};

interface Operation {
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
function op(o: Operation): Record<string, unknown> {
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

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
const listOf = (name: string) => json({ type: 'array', items: ref(name) });
const empty = (description: string) => ({ description });
const pathParam = (name: string, description?: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string' },
  ...(description ? { description } : {}),
});
const header = (name: string, description: string, example?: string) => ({
  name,
  in: 'header',
  schema: { type: 'string', ...(example ? { examples: [example] } : {}) },
  description,
});
const id = pathParam('id');
const outputId = pathParam('output_id');
const binary = { schema: { type: 'string', contentMediaType: 'application/octet-stream' } };
const TUS = 'tus';
const JOBS = 'jobs';
const UPLOADS = 'uploads';
const WEB = 'web page';
const OPS = 'operations';

export function openApiDocument(serverUrl?: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Kiln API',
      version: '1.0.0',
      description:
        'Self-hosted file conversion: jobs (inputs × conversions), chunked and resumable uploads, signed callbacks.',
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    security: [{ apiKey: [] }, { bearer: [] }],
    tags: [JOBS, UPLOADS, TUS, WEB, OPS].map((name) => ({ name })),
    components: {
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
        bearer: { type: 'http', scheme: 'bearer' },
        jobToken: {
          type: 'apiKey',
          in: 'header',
          name: 'X-Job-Token',
          description: 'A job’s token: authorizes the upload endpoints (and events) of that job only.',
        },
        webSession: {
          type: 'apiKey',
          in: 'cookie',
          name: 'kiln_session',
          description:
            'The web page’s session (POST /web/session); only the /web routes. Requests other than GET also need X-Kiln-Web: 1.',
        },
      },
      schemas: { Error: ERROR_SCHEMA, ...requestBodySchemas(), ...answerSchemas() },
      responses: errorResponses(),
    },
    paths: { ...jobPaths(), ...uploadPaths(), ...tusPaths(), ...webPaths(), ...operationsPaths() },
  };
}

function jobPaths() {
  return {
    '/v1/jobs': {
      post: op({
        tag: JOBS,
        summary: 'Create a job',
        body: 'post /v1/jobs',
        ok: { '201': json(ref('Job'), 'Created; the answer carries the job’s token') },
      }),
      get: op({
        tag: JOBS,
        summary: 'List jobs (newest first)',
        query: 'get /v1/jobs',
        ok: { '200': json(ref('JobList')) },
        errors: [400],
      }),
    },
    '/v1/jobs/{id}': {
      parameters: [id],
      get: op({ tag: JOBS, summary: 'Get a job', ok: { '200': json(ref('Job')) }, errors: [404] }),
      patch: op({
        tag: JOBS,
        summary:
          'Start processing (process: true), or change the callback or tag; 409 without an input or a conversion',
        body: 'patch /v1/jobs/{id}',
        ok: { '200': json(ref('Job')) },
        errors: [404, 409],
      }),
      delete: op({
        tag: JOBS,
        summary: 'Cancel: running conversions stop, stored data is deleted',
        ok: { '200': json(ref('Job'), 'The job, canceled') },
        errors: [404],
      }),
    },
    '/v1/jobs/{id}/conversions': {
      parameters: [id],
      post: op({
        tag: JOBS,
        summary: 'Add a conversion (applies to every input)',
        body: 'post /v1/jobs/{id}/conversions',
        ok: { '201': json(ref('Conversion'), 'Created') },
        errors: [404, 409],
      }),
      get: op({ tag: JOBS, summary: 'List conversions', ok: { '200': listOf('Conversion') }, errors: [404] }),
    },
    '/v1/jobs/{id}/input': {
      parameters: [id],
      post: op({
        tag: JOBS,
        summary: 'Add an input: a remote URL, or an upload to come',
        body: 'post /v1/jobs/{id}/input',
        ok: { '201': json(ref('Input'), 'Created') },
        errors: [403, 404, 409],
      }),
      get: op({ tag: JOBS, summary: 'List inputs', ok: { '200': listOf('Input') }, errors: [404] }),
    },
    '/v1/jobs/{id}/upload': {
      parameters: [
        id,
        header('X-Upload-Id', 'Chunked upload: your id for this file, unique per file in the job.'),
        header('Content-Range', 'Chunked upload: bytes start-end/total, end inclusive.', 'bytes 0-16777215/1073741824'),
        header('X-File-Name', 'Raw body: the file name (percent-encoded).'),
        header('X-Input-Id', 'The upload input (POST /v1/jobs/{id}/input) this file fills.'),
        header('Content-Digest', 'sha-256=:<base64>: (RFC 9530) of this body, or X-Chunk-Sha256: <hex>.'),
      ],
      post: op({
        tag: JOBS,
        summary:
          'Upload a whole file (multipart `file` field, or a raw body) or one chunk; chunks may come in any order and be re-sent',
        auth: 'jobToken',
        content: {
          'multipart/form-data': {
            schema: {
              type: 'object',
              properties: { file: { type: 'string', contentMediaType: 'application/octet-stream' } },
            },
          },
          'application/octet-stream': binary,
        },
        ok: {
          '201': json(
            {
              type: 'object',
              required: ['input', 'complete'],
              properties: { input: ref('Input'), complete: { const: true } },
            },
            'The file is complete',
          ),
          '202': json(
            {
              type: 'object',
              required: ['input', 'received_bytes', 'complete'],
              properties: { input: ref('Input'), received_bytes: { type: 'integer' }, complete: { const: false } },
            },
            'Chunk stored',
          ),
        },
        errors: [400, 403, 404, 408, 409, 413, 415, 416, 422],
      }),
    },
    '/v1/jobs/{id}/output': {
      parameters: [id],
      get: op({
        tag: JOBS,
        summary: 'Outputs with time-limited download URLs',
        ok: { '200': listOf('Output') },
        errors: [404],
      }),
    },
    '/v1/jobs/{id}/output/{output_id}/download': {
      parameters: [id, outputId],
      get: op({
        tag: JOBS,
        summary: 'Redirect (302) to a fresh download URL',
        ok: {
          '302': { description: 'Location: the download URL', headers: { Location: { schema: { type: 'string' } } } },
        },
        errors: [404],
      }),
    },
    '/v1/jobs/{id}/callbacks': {
      parameters: [id],
      get: op({
        tag: JOBS,
        summary: 'Every callback attempt',
        ok: { '200': listOf('CallbackAttempt') },
        errors: [404],
      }),
    },
    '/v1/jobs/{id}/events': {
      parameters: [id],
      get: op({
        tag: JOBS,
        summary:
          'Server-Sent Events: `status` {job_id, status, progress, at} on every change, then `job` (the Job JSON) and the end of the stream',
        auth: 'jobToken',
        ok: {
          '200': { description: 'An event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
        },
        errors: [403, 404],
      }),
    },
  };
}

function uploadPaths() {
  return {
    '/v1/uploads': {
      post: op({
        tag: UPLOADS,
        summary: 'Open an upload session (with a job’s token: only for that job’s job_id)',
        auth: 'jobToken',
        body: 'post /v1/uploads',
        ok: { '201': json(ref('Upload'), 'Created') },
        errors: [403, 404, 409],
      }),
    },
    '/v1/uploads/{id}': {
      parameters: [id],
      put: op({
        tag: UPLOADS,
        summary: 'Store one chunk: raw bytes with Content-Range; identical bytes may be re-sent',
        auth: 'jobToken',
        parameters: [header('Content-Range', 'bytes start-end/total, end inclusive.', 'bytes 0-16777215/1073741824')],
        content: { 'application/octet-stream': binary },
        ok: {
          '201': json(ref('Upload'), 'Every byte present (with job_id: the job’s input)'),
          '202': json(ref('Upload'), 'Chunk stored'),
        },
        errors: [400, 403, 404, 409, 413, 416, 422],
      }),
      get: op({
        tag: UPLOADS,
        summary: 'Progress for resume: received ranges, offset (first missing byte), status',
        auth: 'jobToken',
        ok: { '200': json(ref('Upload')) },
        errors: [403, 404],
      }),
      head: op({
        tag: UPLOADS,
        summary: 'Progress in headers only: Upload-Offset, Upload-Length, X-Upload-Status, X-Received-Bytes',
        auth: 'jobToken',
        ok: { '200': empty('Headers only') },
        errors: [403, 404],
      }),
      delete: op({
        tag: UPLOADS,
        summary: 'Abort: stored chunks are deleted',
        auth: 'jobToken',
        ok: { '204': empty('Deleted') },
        errors: [403, 404, 409],
      }),
    },
    '/v1/uploads/{id}/complete': {
      parameters: [id],
      post: op({
        tag: UPLOADS,
        summary: 'Explicit finalize; 400 lists the missing ranges',
        auth: 'jobToken',
        ok: { '200': json(ref('Upload')) },
        errors: [400, 403, 404, 409, 422],
      }),
    },
  };
}

// tus 1.0.0 (https://tus.io/protocols/resumable-upload): a tus upload is an upload session (GET /v1/uploads/{id}).
function tusPaths() {
  const tus = (o: Omit<Operation, 'tag'>) => op({ ...o, tag: TUS });
  const capabilities = tus({
    summary:
      'What the server supports (Tus-Version, Tus-Extension: creation,creation-with-upload,creation-defer-length,expiration,checksum,termination, Tus-Max-Size, Tus-Checksum-Algorithm: sha1,sha256); no credentials; answers CORS preflights',
    auth: 'public',
    ok: { '204': empty('Headers only') },
  });
  const patch = {
    summary:
      'Bytes at Upload-Offset (Content-Type: application/offset+octet-stream); Upload-Checksum: sha1|sha256 <base64> over this body; Upload-Length once a deferred length is known. One request per upload at a time (423 Locked otherwise).',
    auth: 'jobToken' as const,
    content: { 'application/offset+octet-stream': binary },
    ok: {
      '204': empty('Upload-Offset: the new offset'),
      '409': json(ref('Error'), 'Upload-Offset is not the offset'),
      '410': json(ref('Error'), 'Expired'),
      '423': json(ref('Error'), 'Another request is writing this upload'),
      '460': json(ref('Error'), 'Checksum Mismatch: the bytes were discarded'),
    },
    errors: [400, 403, 404, 413, 415] as ErrorHttpStatus[],
  };
  return {
    '/v1/tus/': {
      options: capabilities,
      post: tus({
        summary:
          'Creation: Upload-Length (or Upload-Defer-Length: 1), Tus-Resumable: 1.0.0, Upload-Metadata (base64 pairs: filename, filetype | content_type, job_id, input_id, target — creates a job converting this upload to that target, checksum_sha256); a body sent as application/offset+octet-stream is the first PATCH',
        auth: 'jobToken',
        ok: {
          '201': empty(
            'Location: the upload URL; Upload-Expires; Kiln-Job-Id when bound to a job; Upload-Offset with a body',
          ),
          '412': json(ref('Error'), 'Tus-Resumable is not 1.0.0 (Tus-Version names it)'),
        },
        errors: [400, 403, 404, 409, 413, 415],
      }),
    },
    '/v1/tus/{id}': {
      parameters: [id],
      options: capabilities,
      head: tus({
        summary:
          'Upload-Offset to resume from, Upload-Length (or Upload-Defer-Length: 1), Upload-Metadata, Upload-Expires',
        auth: 'jobToken',
        ok: { '200': empty('Headers only'), '410': json(ref('Error'), 'Expired') },
        errors: [403, 404],
      }),
      patch: tus(patch),
      delete: tus({
        summary: 'Termination: stored chunks are deleted (409 once complete)',
        auth: 'jobToken',
        ok: { '204': empty('Terminated') },
        errors: [403, 404, 409],
      }),
      post: tus({
        ...patch,
        summary:
          'For clients that cannot send PATCH or DELETE: X-HTTP-Method-Override: PATCH (then as PATCH) or DELETE (then as DELETE)',
        parameters: [{ ...header('X-HTTP-Method-Override', 'PATCH or DELETE'), required: true }],
      }),
    },
  };
}

function webPaths() {
  const web = (o: Omit<Operation, 'tag'>) => op({ auth: 'web', ...o, tag: WEB });
  return {
    '/web/session': {
      post: web({
        summary:
          'Log in: an HTML form posts the API key once; 303 to / with an HttpOnly session cookie (303 to /?login=failed for a wrong key)',
        auth: 'public',
        content: {
          'application/x-www-form-urlencoded': {
            schema: { type: 'object', required: ['api_key'], properties: { api_key: { type: 'string' } } },
          },
        },
        ok: { '303': empty('Location: / (Set-Cookie: kiln_session) or /?login=failed') },
        errors: [403, 404, 408, 413, 415, 429],
      }),
      get: web({
        summary: 'The web session: a fingerprint of the key’s hash and its expiry',
        auth: 'web',
        ok: {
          '200': json({
            type: 'object',
            properties: {
              key_fingerprint: { type: 'string' },
              expires_at: { type: ['string', 'null'], format: 'date-time' },
            },
          }),
        },
      }),
      delete: web({
        summary: 'Log out: revokes the session and clears the cookie (needs X-Kiln-Web: 1)',
        auth: 'public',
        ok: { '204': empty('Logged out') },
        errors: [403, 404],
      }),
    },
    '/web/jobs': {
      post: web({
        summary:
          'Create a job of uploaded files and conversions (no remote inputs, no callback); the answer carries the job token',
        body: 'post /web/jobs',
        ok: { '201': json(ref('Job'), 'Created') },
        errors: [403],
      }),
      get: web({
        summary: 'The owner’s jobs (newest first)',
        query: 'get /web/jobs',
        ok: { '200': json(ref('JobList')) },
        errors: [400],
      }),
    },
    '/web/jobs/{id}': {
      parameters: [id],
      get: web({ summary: 'One job', ok: { '200': json(ref('Job')) }, errors: [404] }),
      delete: web({
        summary: 'Cancel a job (needs X-Kiln-Web: 1)',
        ok: { '200': json(ref('Job')) },
        errors: [403, 404],
      }),
    },
    '/web/jobs/{id}/output/{output_id}/download': {
      parameters: [id, outputId],
      get: web({
        summary: 'Redirect (302) to a fresh download URL',
        ok: { '302': empty('Location: the download URL') },
        errors: [404],
      }),
    },
  };
}

function operationsPaths() {
  const ops = (o: Omit<Operation, 'tag' | 'auth'>) => op({ ...o, tag: OPS, auth: 'public' });
  const metricsToken = 'A Bearer token when KILN_METRICS_TOKEN is set (401 without it)';
  return {
    '/v1/formats': {
      get: ops({
        summary: 'The conversion catalog: targets, categories, accepted inputs, options',
        ok: { '200': listOf('Target') },
      }),
    },
    '/health/live': {
      get: ops({
        summary: 'The process is up',
        ok: { '200': json({ type: 'object', properties: { status: { const: 'ok' } } }) },
      }),
    },
    '/health/ready': {
      get: ops({
        summary: 'PostgreSQL, Redis and storage reachable',
        ok: { '200': json(ref('HealthChecks'), 'Ready'), '503': json(ref('HealthChecks'), 'A dependency is down') },
      }),
    },
    '/metrics': {
      get: ops({
        summary: `Prometheus metrics (text format). ${metricsToken}`,
        ok: { '200': { description: 'Metrics', content: { 'text/plain': { schema: { type: 'string' } } } } },
        errors: [401],
      }),
    },
    '/metrics/queues': {
      get: ops({
        summary: `The depth of every queue, for an autoscaler (KEDA’s metrics-api scaler reads queues.convert.backlog or .demand). ${metricsToken}`,
        ok: {
          '200': json({
            type: 'object',
            properties: {
              queues: {
                type: 'object',
                additionalProperties: {
                  type: 'object',
                  properties: Object.fromEntries(
                    ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'backlog', 'demand'].map((k) => [
                      k,
                      { type: 'integer' },
                    ]),
                  ),
                },
              },
            },
          }),
        },
        errors: [401, 503],
      }),
    },
    '/docs': {
      get: ops({
        summary: 'This document as a readable index (HTML)',
        ok: { '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } },
      }),
    },
    '/docs/openapi.json': {
      get: ops({ summary: 'This document (OpenAPI 3.1)', ok: { '200': json({ type: 'object' }) } }),
    },
  };
}
