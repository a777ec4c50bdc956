// The managed API keys area of the OpenAPI document (scope `admin`).
import { API_KEY_SCOPES } from '@kiln/database';
import { id, json, KEYS, op, type Operation, ref } from './openapi-operation';

/** An API key as the API shows it: never the key nor its hash. */
export function apiKeySchemas(): Record<string, Record<string, unknown>> {
  const props = {
    id: { type: 'string', format: 'uuid' },
    name: { type: 'string' },
    scopes: { type: 'array', items: { enum: [...API_KEY_SCOPES] } },
    limits: {
      type: ['object', 'null'],
      properties: { rate_per_minute: { type: 'integer', minimum: 0 } },
    },
    created_at: { type: 'string', format: 'date-time' },
    last_used_at: {
      type: ['string', 'null'],
      format: 'date-time',
      description: 'Updated at most once a minute',
    },
    revoked_at: { type: ['string', 'null'], format: 'date-time' },
  };
  const required = Object.keys(props);
  return {
    ApiKey: { type: 'object', required, properties: props },
    CreatedApiKey: {
      type: 'object',
      required: [...required, 'key'],
      properties: {
        ...props,
        key: {
          type: 'string',
          description: 'The key itself (prefix kiln_): shown in this answer only, stored as its SHA-256',
        },
      },
    },
  };
}

export function keyPaths() {
  const admin = (o: Omit<Operation, 'tag'>) => op({ ...o, tag: KEYS, errors: [403, ...(o.errors ?? [])] });
  return {
    '/v1/keys': {
      post: admin({
        summary: 'Create an API key (scope admin); the answer carries the key, once',
        body: 'post /v1/keys',
        ok: { '201': json(ref('CreatedApiKey'), 'Created') },
      }),
      get: admin({
        summary: 'Every API key, revoked ones too (scope admin); never the keys themselves',
        ok: { '200': json({ type: 'object', properties: { items: { type: 'array', items: ref('ApiKey') } } }) },
      }),
    },
    '/v1/keys/{id}': {
      parameters: [id],
      delete: admin({
        summary: 'Revoke an API key (scope admin): refused by every gateway within seconds',
        ok: { '200': json(ref('ApiKey')) },
        errors: [404],
      }),
    },
  };
}
