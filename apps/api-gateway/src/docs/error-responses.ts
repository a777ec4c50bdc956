import { ErrorStatus, type ErrorCode } from '@kiln/contracts';
import type { JsonSchema } from './request-schemas';

/**
 * The error answers of the OpenAPI document: one shared `Error` schema, and one response per HTTP status
 * built from `ErrorStatus` (shared/design/API.md's table plus Kiln's additions), so a new code shows up
 * here by itself and must be given a meaning below before this compiles.
 */
const MEANING: Record<ErrorCode, string> = {
  invalid_input: 'the body, query or a header fails validation; `details` names each field',
  unauthorized: 'no or wrong credentials',
  forbidden: 'the credentials are valid but the resource is not theirs (another job’s token)',
  not_found: 'unknown id, or a job of another key',
  request_timeout:
    'a JSON or form body that did not arrive within KILN_BODY_TIMEOUT_SECONDS (the connection is closed)',
  conflict: 'the state does not allow it (e.g. chunk bytes differ from the bytes already stored at that range)',
  job_locked: 'the job is already processing and accepts no more inputs',
  payload_too_large:
    'a file or chunk over KILN_MAX_FILE_SIZE, a JSON body over KILN_JSON_BODY_LIMIT, or the key’s storage quota (KILN_STORAGE_QUOTA_PER_KEY): the message names the quota, what is used and what is left',
  unsupported_media_type:
    'the input cannot be converted to the asked target, or a body of another type than the route reads (JSON routes: application/json)',
  range_not_satisfiable: 'malformed Content-Range, end beyond total, or a total that differs from the declared size',
  unprocessable: 'checksum mismatch, corrupt media, or a media limit',
  idempotency_mismatch: 'the Idempotency-Key was already used with another method, path or body',
  rate_limited:
    'too many requests: the key’s rate (KILN_RATE_LIMIT_PER_MINUTE), uploads in flight, open uploads, event streams or jobs in flight of the key, or failed authentications from this address; Retry-After says when to come back',
  internal: 'a bug; the body carries a request id, never a stack trace',
  unavailable: 'PostgreSQL, Redis or storage cannot be reached right now; Retry-After says when to try again',
};

/** The statuses an error answer can have, lowest first. */
export type ErrorHttpStatus = (typeof ErrorStatus)[ErrorCode];

const codesOf = (status: number): ErrorCode[] =>
  (Object.keys(ErrorStatus) as ErrorCode[]).filter((c) => ErrorStatus[c] === status);
const pascal = (code: string) => code.replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());

/** `components.responses` name of a status: its first code, in PascalCase (409 → Conflict). */
export function errorResponseName(status: ErrorHttpStatus): string {
  return pascal(codesOf(status)[0]);
}

export const ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  description: 'Every non-2xx answer (shared/design/API.md “Errors”).',
  required: ['error'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(ErrorStatus) },
        message: { type: 'string', description: 'A human sentence.' },
        details: {
          type: 'array',
          items: {
            type: 'object',
            required: ['message'],
            properties: {
              field: { type: 'string', description: 'A dotted path into the body, or a header or query name.' },
              message: { type: 'string' },
            },
          },
        },
        request_id: { type: 'string' },
      },
    },
  },
};

const RETRY_AFTER = { description: 'Seconds to wait before trying again.', schema: { type: 'integer', minimum: 0 } };

/** One response per error status: the Error schema with `code` narrowed to that status's codes. */
export function errorResponses(): Record<string, unknown> {
  const statuses = [...new Set(Object.values(ErrorStatus))].sort((a, b) => a - b);
  return Object.fromEntries(
    statuses.map((status) => {
      const codes = codesOf(status);
      return [
        errorResponseName(status),
        {
          description: codes.map((c) => `\`${c}\`: ${MEANING[c]}`).join('; '),
          ...(status === 429 || status === 503 ? { headers: { 'Retry-After': RETRY_AFTER } } : {}),
          content: {
            'application/json': {
              schema: {
                allOf: [
                  { $ref: '#/components/schemas/Error' },
                  { properties: { error: { properties: { code: { enum: codes } } } } },
                ],
              },
            },
          },
        },
      ];
    }),
  );
}

/** `responses` entries of an operation for these error statuses, as references. */
export function errorRefs(statuses: Iterable<ErrorHttpStatus>): Record<string, { $ref: string }> {
  return Object.fromEntries(
    [...new Set(statuses)]
      .sort((a, b) => a - b)
      .map((s) => [String(s), { $ref: `#/components/responses/${errorResponseName(s)}` }]),
  );
}
