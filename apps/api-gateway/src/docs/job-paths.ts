// The jobs area of the OpenAPI document: jobs, their inputs, uploads, outputs, callbacks and events.
import { binary, header, id, JOBS, json, listOf, op, outputId, pathParam, ref } from './openapi-operation';

const filePath = [outputId, pathParam('expires'), pathParam('signature'), pathParam('name')];
/** A file of a many-file output: a playlist is served, any other file redirected to storage. */
const fileAnswers = {
  '200': { description: 'An HLS playlist', content: { 'application/vnd.apple.mpegurl': binary } },
  '302': { description: 'Location: the file in storage', headers: { Location: { schema: { type: 'string' } } } },
};

export function jobPaths() {
  return {
    '/v1/jobs': {
      post: op({
        tag: JOBS,
        summary: 'Create a job',
        body: 'post /v1/jobs',
        query: 'post /v1/jobs',
        ok: {
          '201': json(
            ref('Job'),
            'Created; the answer carries the job’s token. With `wait`, held until the job has ended (or the deadline), unless it is `incomplete`',
          ),
        },
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
      get: op({
        tag: JOBS,
        summary: 'Get a job; with `wait`, the answer comes as soon as the job has ended, or at the deadline as it is',
        query: 'get /v1/jobs/{id}',
        ok: { '200': json(ref('Job')) },
        errors: [400, 404],
      }),
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
        ok: { '200': json(ref('Job'), 'The job, canceled (or canceling while a cleanup step is retried)') },
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
        header('X-Oc-Upload-Uuid', 'online-convert’s name for X-Upload-Id (X-Upload-Id wins when both are sent).'),
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
    '/v1/jobs/{id}/output/latest': {
      parameters: [id],
      get: op({
        tag: JOBS,
        summary:
          'The one output of a completed job (after waiting, with `wait`): its Output JSON, or with `redirect=true` a 302 to its download; 409 while the job has not completed, when it failed or was canceled, or has several outputs',
        query: 'get /v1/jobs/{id}/output/latest',
        ok: {
          '200': json(ref('Output')),
          '302': { description: 'Location: the download URL', headers: { Location: { schema: { type: 'string' } } } },
        },
        errors: [400, 404, 409],
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
    '/v1/files/{output_id}/{expires}/{signature}/{name}': {
      parameters: filePath,
      get: op({
        tag: JOBS,
        auth: 'public',
        summary:
          "A file of a many-file output under a signed path (an output's `stream_uri`): playlists (.m3u8) are served, every other file redirects (302) to storage",
        ok: fileAnswers,
        errors: [404],
      }),
    },
    '/v1/files/{output_id}/{expires}/{signature}/{dir}/{name}': {
      parameters: [...filePath, pathParam('dir')],
      get: op({
        tag: JOBS,
        auth: 'public',
        summary:
          'A file one folder down of a many-file output (an HLS rendition: `360p/index.m3u8`, `360p/segment_000.ts`)',
        ok: fileAnswers,
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
