// The Uppy area of the OpenAPI document: Companion's S3 endpoints on direct upload sessions (README "Uppy").
import { json, op, pathParam, type Operation } from './openapi-operation';
import type { BodyOperation, QueryOperation } from './request-schemas';

export const UPPY = 'uppy';
const PREFIXES = ['/v1/uppy', '/v1/uppy/t/{job_token}'] as const;
const jobToken = pathParam('job_token', 'A job token in the path (@uppy/aws-s3 6 sends no headers)');
const uploadId = pathParam('upload_id', 'The Kiln upload id (Uppy’s uploadId)');
const partNumber = pathParam('part_number', '1..part_count');

type UppyOperation = Omit<Operation, 'tag' | 'auth' | 'body' | 'query'> & { body?: string; query?: string };

export function uppyPaths() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const prefix of PREFIXES) {
    const uppy = (method: string, o: UppyOperation) => {
      const opKey = (s?: string) => (s ? `${method} ${prefix}${s}` : undefined);
      return op({
        ...o,
        tag: UPPY,
        auth: 'jobToken',
        body: opKey(o.body) as BodyOperation | undefined,
        query: opKey(o.query) as QueryOperation | undefined,
      });
    };
    const withToken = (params: unknown[]) => (prefix.includes('{job_token}') ? [jobToken, ...params] : params);
    const answer = (description: string) => json({ type: 'object' }, description);
    paths[`${prefix}/s3/params`] = {
      ...(withToken([]).length ? { parameters: withToken([]) } : {}),
      get: uppy('get', {
        summary:
          'A form upload (Uppy without multipart): opens a direct session (transfer form) and answers {method: POST, url, fields, headers, expires, upload_id, location}',
        query: '/s3/params',
        ok: { '200': answer('The S3 POST policy form') },
        errors: [400, 403, 404, 409, 413],
      }),
    };
    paths[`${prefix}/s3/complete`] = {
      ...(withToken([]).length ? { parameters: withToken([]) } : {}),
      post: uppy('post', {
        summary: 'Completes a form upload named by its key (Kiln’s addition: Uppy calls nothing after a form POST)',
        query: '/s3/complete',
        ok: { '200': answer('{location, key, upload_id, status}') },
        errors: [400, 403, 404, 409],
      }),
    };
    paths[`${prefix}/s3/multipart`] = {
      ...(withToken([]).length ? { parameters: withToken([]) } : {}),
      post: uppy('post', {
        summary:
          'Opens a direct multipart session; part size Uppy’s own (5 MiB, or metadata.part_size). {key, uploadId}',
        body: '/s3/multipart',
        ok: { '201': answer('{key, uploadId}: both the Kiln upload id') },
        errors: [403, 404, 409],
      }),
    };
    paths[`${prefix}/s3/multipart/{upload_id}`] = {
      parameters: withToken([uploadId]),
      get: uppy('get', {
        summary: 'The parts S3 holds: [{PartNumber, Size, ETag}]',
        query: '/s3/multipart/{upload_id}',
        ok: { '200': json({ type: 'array', items: { type: 'object' } }) },
        errors: [400, 403, 404],
      }),
      delete: uppy('delete', {
        summary: 'Aborts the session (DELETE /v1/uploads/{id}); answers {}',
        query: '/s3/multipart/{upload_id}',
        ok: { '200': answer('{}') },
        errors: [400, 403, 404, 409],
      }),
    };
    paths[`${prefix}/s3/multipart/{upload_id}/batch`] = {
      parameters: withToken([uploadId]),
      get: uppy('get', {
        summary: 'Signs several parts: {presignedUrls: {"1": url, …}} (older Uppy versions)',
        query: '/s3/multipart/{upload_id}/batch',
        ok: { '200': answer('{presignedUrls}') },
        errors: [400, 403, 404, 409],
      }),
    };
    paths[`${prefix}/s3/multipart/{upload_id}/{part_number}`] = {
      parameters: withToken([uploadId, partNumber]),
      get: uppy('get', {
        summary: 'Signs one part (its exact Content-Length is signed): {url, expires, headers}',
        query: '/s3/multipart/{upload_id}/{part_number}',
        ok: { '200': answer('{url, expires, headers}') },
        errors: [400, 403, 404, 409],
      }),
    };
    paths[`${prefix}/s3/multipart/{upload_id}/complete`] = {
      parameters: withToken([uploadId]),
      post: uppy('post', {
        summary:
          'Kiln’s complete: every part present with its exact size (400 naming the gaps), then the usual completion. {location, key, upload_id, status}',
        query: '/s3/multipart/{upload_id}/complete',
        ok: { '200': answer('{location, key, upload_id, status}') },
        errors: [400, 403, 404, 409],
      }),
    };
  }
  return paths;
}
