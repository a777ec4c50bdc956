// The web page's area of the OpenAPI document: its session and the jobs it shows.
import { empty, id, json, op, type Operation, outputId, ref, WEB } from './openapi-operation';

export function webPaths() {
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
