// The upload sessions area of the OpenAPI document.
import { binary, empty, header, id, json, op, ref, UPLOADS } from './openapi-operation';

export function uploadPaths() {
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
    '/v1/uploads/modes': {
      get: op({
        tag: UPLOADS,
        summary: 'The upload modes offered: direct (straight to S3, presigned) and proxied (through the gateway)',
        auth: 'jobToken',
        ok: { '200': json(ref('UploadModes')) },
        errors: [],
      }),
    },
    '/v1/uploads/{id}/parts': {
      parameters: [id],
      post: op({
        tag: UPLOADS,
        summary: 'Direct multipart sessions (Kiln extension): presigned part URLs that sign their Content-Length',
        auth: 'jobToken',
        body: 'post /v1/uploads/{id}/parts',
        ok: { '200': json(ref('SignedParts')) },
        errors: [400, 403, 404, 409],
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
