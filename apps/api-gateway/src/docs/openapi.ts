import { CATALOG, ErrorStatus } from '@kiln/contracts';

/**
 * The OpenAPI 3.1 document of the public API (shared/design/API.md), with what the contract leaves
 * open written down: error codes per status, upload headers, the formats catalog as an enum.
 */
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [String(s), json(ref('Error'), Object.entries(ErrorStatus).filter(([, v]) => v === s).map(([k]) => k).join(' | '))]));
const id = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };

export function openApiDocument(serverUrl?: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: 'Kiln API', version: '1.0.0', description: 'Self-hosted file conversion: jobs (inputs × conversions), chunked and resumable uploads, signed callbacks.' },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    security: [{ apiKey: [] }, { bearer: [] }],
    components: {
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
        bearer: { type: 'http', scheme: 'bearer' },
        jobToken: { type: 'apiKey', in: 'header', name: 'X-Job-Token', description: 'Authorizes the upload endpoints (and events) of one job.' },
        webSession: { type: 'apiKey', in: 'cookie', name: 'kiln_session', description: 'The web page’s session (POST /web/session); only the /web routes. Requests other than GET also need X-Kiln-Web: 1.' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: { type: 'string', enum: Object.keys(ErrorStatus) },
                message: { type: 'string' },
                details: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } } },
                request_id: { type: 'string' },
              },
            },
          },
        },
        Target: { type: 'string', enum: CATALOG.map((t) => t.target) },
        ConversionSpec: { type: 'object', required: ['target'], additionalProperties: false, properties: { target: ref('Target'), options: { type: 'object', description: 'See GET /v1/formats for each target’s options.' } } },
        InputSpec: {
          oneOf: [
            { type: 'object', required: ['type'], additionalProperties: false, properties: { type: { const: 'upload' }, filename: { type: 'string' }, size: { type: 'integer', minimum: 0 }, upload_id: { type: 'string', format: 'uuid', description: 'A standalone upload session (opened without job_id) that becomes this input; filename and size then come from it.' } } },
            { type: 'object', required: ['type', 'source'], additionalProperties: false, properties: { type: { const: 'remote' }, source: { type: 'string', format: 'uri' }, filename: { type: 'string' } } },
          ],
        },
        Input: { type: 'object', properties: { id: { type: 'string' }, type: { enum: ['upload', 'remote'] }, source: { type: ['string', 'null'] }, filename: { type: ['string', 'null'] }, size: { type: ['integer', 'null'] }, content_type: { type: ['string', 'null'] }, checksum_sha256: { type: ['string', 'null'] }, status: { enum: ['pending', 'uploading', 'assembling', 'ready', 'failed'] }, error: { type: 'string' }, media: { type: 'object' } } },
        Conversion: { type: 'object', properties: { id: { type: 'string' }, target: ref('Target'), category: { enum: ['video', 'audio', 'image'] }, options: { type: 'object' }, status: { type: 'string' }, progress: { type: 'integer' }, error: { type: 'string' } } },
        Output: { type: 'object', properties: { id: { type: 'string' }, conversion_id: { type: 'string' }, input_id: { type: 'string' }, filename: { type: 'string' }, size: { type: 'integer' }, content_type: { type: 'string' }, checksum_sha256: { type: 'string' }, uri: { type: 'string', description: 'Time-limited download URL.' }, created_at: { type: 'string', format: 'date-time' } } },
        Job: {
          type: 'object',
          properties: {
            id: { type: 'string' }, token: { type: 'string', description: 'Only in the answer to POST /v1/jobs.' },
            status: { type: 'object', properties: { code: { enum: ['incomplete', 'queued', 'downloading', 'processing', 'completed', 'failed', 'canceled'] }, info: { type: 'string' } } },
            errors: { type: 'array', items: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, source: { enum: ['input', 'conversion', 'callback'] }, input_id: { type: 'string' }, conversion_id: { type: 'string' } } } },
            process: { type: 'boolean' }, callback: { type: ['string', 'null'] }, tag: { type: ['string', 'null'] },
            input: { type: 'array', items: ref('Input') }, conversion: { type: 'array', items: ref('Conversion') }, output: { type: 'array', items: ref('Output') },
            progress: { type: 'integer' }, created_at: { type: 'string' }, modified_at: { type: 'string' }, started_at: { type: ['string', 'null'] }, finished_at: { type: ['string', 'null'] }, spent_ms: { type: 'integer' },
          },
        },
        Upload: { type: 'object', properties: { id: { type: 'string' }, location: { type: 'string' }, filename: { type: 'string' }, size: { type: 'integer' }, job_id: { type: ['string', 'null'] }, input_id: { type: ['string', 'null'] }, chunk_size_min: { type: 'integer' }, chunk_size_max: { type: 'integer' }, received: { type: 'array', items: { type: 'array', items: { type: 'integer' }, minItems: 2, maxItems: 2 } }, received_bytes: { type: 'integer' }, offset: { type: 'integer' }, status: { enum: ['uploading', 'complete', 'failed'] }, assembled: { type: 'boolean' }, expires_at: { type: 'integer', description: 'Epoch seconds; 0 = never.' } } },
      },
    },
    paths: {
      '/v1/jobs': {
        post: { summary: 'Create a job', requestBody: { content: { 'application/json': { schema: { type: 'object', additionalProperties: false, properties: { process: { type: 'boolean', default: true }, input: { type: 'array', items: ref('InputSpec'), maxItems: 100 }, conversion: { type: 'array', items: ref('ConversionSpec'), maxItems: 20 }, callback: { type: 'string', format: 'uri' }, tag: { type: 'string' } } } } } }, responses: { '201': json(ref('Job'), 'Created'), ...errors(400, 401) } },
        get: { summary: 'List jobs (newest first)', parameters: [{ name: 'status', in: 'query', schema: { type: 'string' } }, { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } }, { name: 'cursor', in: 'query', schema: { type: 'string' } }], responses: { '200': json({ type: 'object', properties: { items: { type: 'array', items: ref('Job') }, next_cursor: { type: ['string', 'null'] } } }), ...errors(400, 401) } },
      },
      '/v1/jobs/{id}': {
        parameters: [id],
        get: { summary: 'Get a job', responses: { '200': json(ref('Job')), ...errors(401, 404) } },
        patch: { summary: 'Start processing (process: true) or change the callback', requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { process: { const: true }, callback: { type: 'string' }, tag: { type: 'string' } } } } } }, responses: { '200': json(ref('Job')), ...errors(400, 401, 404, 409) } },
        delete: { summary: 'Cancel: running conversions stop, stored data is deleted', responses: { '200': json(ref('Job')), ...errors(401, 404) } },
      },
      '/v1/jobs/{id}/conversions': { parameters: [id], post: { summary: 'Add a conversion', requestBody: { content: { 'application/json': { schema: ref('ConversionSpec') } } }, responses: { '201': json(ref('Conversion'), 'Created'), ...errors(400, 404, 409) } }, get: { summary: 'List conversions', responses: { '200': json({ type: 'array', items: ref('Conversion') }) } } },
      '/v1/jobs/{id}/input': { parameters: [id], post: { summary: 'Add an input', requestBody: { content: { 'application/json': { schema: ref('InputSpec') } } }, responses: { '201': json(ref('Input'), 'Created'), ...errors(400, 404, 409) } }, get: { summary: 'List inputs', responses: { '200': json({ type: 'array', items: ref('Input') }) } } },
      '/v1/jobs/{id}/upload': {
        parameters: [id, { name: 'X-Upload-Id', in: 'header', schema: { type: 'string' }, description: 'Chunked upload: your id for this file.' }, { name: 'Content-Range', in: 'header', schema: { type: 'string', example: 'bytes 0-16777215/1073741824' } }, { name: 'X-File-Name', in: 'header', schema: { type: 'string' } }, { name: 'X-Input-Id', in: 'header', schema: { type: 'string' } }, { name: 'Content-Digest', in: 'header', schema: { type: 'string' }, description: 'sha-256=:<base64>: (RFC 9530) or X-Chunk-Sha256: <hex>' }],
        post: { summary: 'Upload a whole file (multipart `file` field or raw body) or one chunk', security: [{ apiKey: [] }, { jobToken: [] }], requestBody: { content: { 'multipart/form-data': { schema: { type: 'object', properties: { file: { type: 'string', format: 'binary' } } } }, 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } }, responses: { '201': json({ type: 'object', properties: { input: ref('Input'), complete: { const: true } } }, 'File complete'), '202': json({ type: 'object', properties: { input: ref('Input'), received_bytes: { type: 'integer' }, complete: { const: false } } }, 'Chunk stored'), ...errors(400, 401, 403, 404, 409, 413, 416, 422) } },
      },
      '/v1/jobs/{id}/output': { parameters: [id], get: { summary: 'Outputs with time-limited download URLs', responses: { '200': json({ type: 'array', items: ref('Output') }) } } },
      '/v1/jobs/{id}/output/{output_id}/download': { parameters: [id, { name: 'output_id', in: 'path', required: true, schema: { type: 'string' } }], get: { summary: 'Redirect (302) to a fresh download URL', responses: { '302': { description: 'Location: the download URL' }, ...errors(404) } } },
      '/v1/jobs/{id}/callbacks': { parameters: [id], get: { summary: 'Every callback attempt', responses: { '200': json({ type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, delivery_id: { type: 'string' }, event: { type: 'string' }, attempt: { type: 'integer' }, status_code: { type: ['integer', 'null'] }, error: { type: ['string', 'null'] }, duration_ms: { type: 'integer' }, at: { type: 'string' } } } }) } } },
      '/v1/jobs/{id}/events': { parameters: [id], get: { summary: 'Server-Sent Events: `status` {job_id, status, progress, at} on every change, then `job` (the Job JSON) and the end of the stream', security: [{ apiKey: [] }, { jobToken: [] }], responses: { '200': { description: 'text/event-stream', content: { 'text/event-stream': {} } } } } },
      '/v1/uploads': { post: { summary: 'Open an upload session', requestBody: { content: { 'application/json': { schema: { type: 'object', required: ['filename', 'size'], properties: { filename: { type: 'string' }, size: { type: 'integer' }, job_id: { type: 'string' }, input_id: { type: 'string' }, content_type: { type: 'string' }, checksum_sha256: { type: 'string' }, expires_at: { type: 'integer' } } } } } }, responses: { '201': json(ref('Upload'), 'Created'), ...errors(400, 401, 403, 404, 409, 413) } } },
      '/v1/uploads/{id}': {
        parameters: [id],
        put: { summary: 'Store one chunk (Content-Range)', responses: { '201': json(ref('Upload'), 'Every byte present'), '202': json(ref('Upload'), 'Chunk stored'), ...errors(400, 404, 409, 413, 416, 422) } },
        get: { summary: 'Progress for resume', responses: { '200': json(ref('Upload')), ...errors(404) } },
        head: { summary: 'Progress in headers: Upload-Offset, Upload-Length, X-Upload-Status, X-Received-Bytes', responses: { '200': { description: 'headers only' } } },
        delete: { summary: 'Abort: stored chunks are deleted', responses: { '204': { description: 'deleted' }, ...errors(404, 409) } },
      },
      '/v1/uploads/{id}/complete': { parameters: [id], post: { summary: 'Finalize; 400 lists the missing ranges', responses: { '200': json(ref('Upload')), ...errors(400, 404, 409) } } },
      // tus 1.0.0 (https://tus.io/protocols/resumable-upload): a tus upload is an upload session (GET /v1/uploads/{id}).
      '/v1/tus/': {
        options: { summary: 'tus: what the server supports (Tus-Version, Tus-Extension: creation,creation-with-upload,creation-defer-length,expiration,checksum,termination, Tus-Max-Size, Tus-Checksum-Algorithm: sha1,sha256); no credentials; answers CORS preflights', security: [], responses: { '204': { description: 'headers only' } } },
        post: {
          summary: 'tus creation: Upload-Length (or Upload-Defer-Length: 1), Tus-Resumable: 1.0.0, Upload-Metadata (base64 pairs: filename, filetype | content_type, job_id, input_id, target — creates a job converting this upload to that target, checksum_sha256); a body sent as application/offset+octet-stream is the first PATCH',
          security: [{ apiKey: [] }, { bearer: [] }, { jobToken: [] }],
          responses: { '201': { description: 'Location: the upload URL; Upload-Expires; Kiln-Job-Id when bound to a job; Upload-Offset with a body' }, '412': json(ref('Error'), 'Tus-Resumable not 1.0.0 (Tus-Version names it)'), ...errors(400, 401, 403, 404, 409, 413, 415) },
        },
      },
      '/v1/tus/{id}': {
        parameters: [id],
        head: { summary: 'tus: Upload-Offset to resume from, Upload-Length (or Upload-Defer-Length: 1), Upload-Metadata, Upload-Expires', security: [{ apiKey: [] }, { bearer: [] }, { jobToken: [] }], responses: { '200': { description: 'headers only' }, '410': json(ref('Error'), 'expired'), ...errors(403, 404) } },
        patch: {
          summary: 'tus: bytes at Upload-Offset (Content-Type: application/offset+octet-stream); Upload-Checksum: sha1|sha256 <base64> over this body; Upload-Length once a deferred length is known. One request per upload at a time (423 Locked otherwise).',
          security: [{ apiKey: [] }, { bearer: [] }, { jobToken: [] }],
          requestBody: { content: { 'application/offset+octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          responses: { '204': { description: 'Upload-Offset: the new offset' }, '409': json(ref('Error'), 'Upload-Offset is not the offset'), '410': json(ref('Error'), 'expired'), '423': json(ref('Error'), 'another request is writing this upload'), '460': json(ref('Error'), 'Checksum Mismatch: the bytes were discarded'), ...errors(400, 403, 404, 413, 415) },
        },
        delete: { summary: 'tus termination: stored chunks deleted (409 once complete)', security: [{ apiKey: [] }, { bearer: [] }, { jobToken: [] }], responses: { '204': { description: 'terminated' }, ...errors(404, 409) } },
      },
      '/v1/formats': { get: { summary: 'The conversion catalog', security: [], responses: { '200': json({ type: 'array', items: { type: 'object' } }) } } },
      '/health/live': { get: { summary: 'Process up', security: [], responses: { '200': { description: 'ok' } } } },
      '/health/ready': { get: { summary: 'PostgreSQL, Redis and storage reachable', security: [], responses: { '200': { description: 'ready' }, '503': { description: 'a dependency is down' } } } },
      '/web/session': {
        post: { summary: 'Web page login: an HTML form posts the API key once; 303 to / with an HttpOnly session cookie (303 to /?login=failed for a wrong key)', security: [], requestBody: { content: { 'application/x-www-form-urlencoded': { schema: { type: 'object', required: ['api_key'], properties: { api_key: { type: 'string' } } } } } }, responses: { '303': { description: 'Location: / (Set-Cookie: kiln_session) or /?login=failed' }, ...errors(403, 413, 415) } },
        get: { summary: 'The web session: a fingerprint of the key’s hash and its expiry', security: [{ webSession: [] }], responses: { '200': json({ type: 'object', properties: { key_fingerprint: { type: 'string' }, expires_at: { type: 'string', format: 'date-time' } } }), ...errors(401) } },
        delete: { summary: 'Web page logout: revokes the session and clears the cookie (needs X-Kiln-Web: 1)', security: [], responses: { '204': { description: 'logged out' }, ...errors(403) } },
      },
      '/web/jobs': {
        post: { summary: 'Web page: create a job of uploaded files and conversions (no remote inputs, no callback); the answer carries the job token', security: [{ webSession: [] }, { apiKey: [] }], requestBody: { content: { 'application/json': { schema: { type: 'object', required: ['input', 'conversion'], additionalProperties: false, properties: { input: { type: 'array', minItems: 1, maxItems: 20, items: { type: 'object', required: ['type', 'filename'], properties: { type: { const: 'upload' }, filename: { type: 'string' }, size: { type: 'integer', minimum: 1 } } } }, conversion: { type: 'array', minItems: 1, maxItems: 20, items: ref('ConversionSpec') }, tag: { type: 'string' } } } } } }, responses: { '201': json(ref('Job'), 'Created'), ...errors(400, 401, 403) } },
        get: { summary: 'Web page: the owner’s jobs (newest first)', security: [{ webSession: [] }, { apiKey: [] }], parameters: [{ name: 'status', in: 'query', schema: { type: 'string' } }, { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } }, { name: 'cursor', in: 'query', schema: { type: 'string' } }], responses: { '200': json({ type: 'object', properties: { items: { type: 'array', items: ref('Job') }, next_cursor: { type: ['string', 'null'] } } }), ...errors(400, 401) } },
      },
      '/web/jobs/{id}': {
        parameters: [id],
        get: { summary: 'Web page: one job', security: [{ webSession: [] }, { apiKey: [] }], responses: { '200': json(ref('Job')), ...errors(401, 404) } },
        delete: { summary: 'Web page: cancel a job (needs X-Kiln-Web: 1)', security: [{ webSession: [] }, { apiKey: [] }], responses: { '200': json(ref('Job')), ...errors(401, 403, 404) } },
      },
      '/web/jobs/{id}/output/{output_id}/download': { parameters: [id, { name: 'output_id', in: 'path', required: true, schema: { type: 'string' } }], get: { summary: 'Web page: redirect (302) to a fresh download URL', security: [{ webSession: [] }, { apiKey: [] }], responses: { '302': { description: 'Location: the download URL' }, ...errors(401, 404) } } },
      '/metrics': { get: { summary: 'Prometheus metrics (text format); a Bearer token when KILN_METRICS_TOKEN is set', security: [], responses: { '200': { description: 'metrics', content: { 'text/plain': {} } }, '401': { description: 'KILN_METRICS_TOKEN set and not sent' } } } },
    },
  };
}
