import { answerSchemas } from './answer-schemas';
import { ERROR_SCHEMA, errorResponses } from './error-responses';
import { jobPaths } from './job-paths';
import { apiKeySchemas, keyPaths } from './key-paths';
import { JOBS, KEYS, OPS, PRESETS, TUS, UPLOADS, WEB, withIdempotencyKey } from './openapi-operation';
import { operationsPaths } from './operations-paths';
import { presetPaths } from './preset-paths';
import { requestBodySchemas } from './request-schemas';
import { tusPaths } from './tus-paths';
import { UPPY, uppyPaths } from './uppy-paths';
import { uploadPaths } from './upload-paths';
import { webPaths } from './web-paths';

/**
 * The OpenAPI 3.1 document of the public API (shared/design/API.md and README's additions). Request
 * bodies and query strings are generated from the zod schemas the routes validate with
 * (request-schemas.ts); answers are the views of libs/contracts (answer-schemas.ts); errors are one
 * `Error` schema with a response per status (error-responses.ts). openapi.spec.ts fails when a route of
 * the gateway is missing here, or a body here differs from its schema.
 */

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
    tags: [JOBS, PRESETS, UPLOADS, TUS, UPPY, WEB, KEYS, OPS].map((name) => ({ name })),
    components: {
      securitySchemes: {
        apiKey: {
          type: 'apiKey',
          in: 'header',
          name: 'X-Api-Key',
          description:
            'X-Oc-Api-Key is accepted the same. Each route needs a scope of the key (README: API keys and scopes).',
        },
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
      schemas: { Error: ERROR_SCHEMA, ...requestBodySchemas(), ...answerSchemas(), ...apiKeySchemas() },
      responses: errorResponses(),
    },
    paths: withIdempotencyKey({
      ...jobPaths(),
      ...presetPaths(),
      ...uploadPaths(),
      ...tusPaths(),
      ...webPaths(),
      ...keyPaths(),
      ...operationsPaths(),
      ...uppyPaths(),
    }),
  };
}
