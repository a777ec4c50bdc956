// The tus area of the OpenAPI document.
import type { ErrorHttpStatus } from './error-responses';
import { binary, empty, header, id, json, op, type Operation, ref, TUS } from './openapi-operation';

// tus 1.0.0 (https://tus.io/protocols/resumable-upload): a tus upload is an upload session (GET /v1/uploads/{id}).
export function tusPaths() {
  const tus = (o: Omit<Operation, 'tag'>) => op({ ...o, tag: TUS });
  const capabilities = tus({
    summary:
      'What the server supports (Tus-Version, Tus-Extension: creation,creation-with-upload,creation-defer-length,expiration,checksum,termination,concatenation, Tus-Max-Size, Tus-Checksum-Algorithm: sha1,sha256); no credentials; answers CORS preflights',
    auth: 'public',
    ok: { '204': empty('Headers only') },
  });
  const patch = {
    summary:
      'Bytes at Upload-Offset (Content-Type: application/offset+octet-stream); Upload-Checksum: sha1|sha256 <base64> over this body; Upload-Length once a deferred length is known. One request per upload at a time (423 Locked otherwise).',
    auth: 'jobToken' as const,
    content: { 'application/offset+octet-stream': binary },
    ok: {
      '204': empty('Upload-Offset: the new offset (403 on a final upload: it takes no bytes)'),
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
          'Creation: Upload-Length (or Upload-Defer-Length: 1), Tus-Resumable: 1.0.0, Upload-Metadata (base64 pairs: filename, filetype | content_type, job_id, input_id, target — creates a job converting this upload to that target, checksum_sha256); a body sent as application/offset+octet-stream is the first PATCH. Concatenation: Upload-Concat: partial creates a partial upload (bytes only, never a job input); Upload-Concat: final;<url> <url> … (no Upload-Length, no body) creates the final upload from the caller’s partial uploads (its length their sum; 400 for a non-partial, 404 unknown, 409 a partial already in another final), assembled on the server once they are',
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
          'Upload-Offset to resume from, Upload-Length (or Upload-Defer-Length: 1), Upload-Metadata, Upload-Expires; Upload-Concat on partial and final uploads (a final answers Upload-Offset only once every partial is complete)',
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
