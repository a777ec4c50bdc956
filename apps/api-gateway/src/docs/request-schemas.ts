import { z } from 'zod';
import { createApiKeyBody } from '@kiln/database';
import { conversionRequest, createJobBody, inputSpec, listJobsQuery, patchJobBody } from '../jobs/jobs.schemas';
import { createPresetBody } from '../jobs/presets.schemas';
import { latestOutputQuery, waitQuery } from '../jobs/job-wait.schemas';
import { createSessionBody, signPartsBody } from '../uploads/upload-sessions.schemas';
import { webJobBody } from '../web/web-jobs.controller';
import { uppyBatchQuery, uppyCreateBody, uppyFormKeyQuery, uppyKeyQuery, uppyParamsQuery } from '../uppy/uppy-s3';

export type JsonSchema = Record<string, unknown>;

/**
 * What a client may send, as JSON Schema draft 2020-12 (OpenAPI 3.1's dialect): the input side of the
 * zod schema the route validates with — before transforms, with defaults shown as `default` and not
 * required. Refinements (URL schemes, known targets, option ranges) have no JSON Schema form: the
 * schemas say them in `description`s, and the 400 `invalid_input` names the field.
 */
export function requestJsonSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input' }) as JsonSchema;
  return rest;
}

/**
 * Every JSON request body, by operation (`method path`, OpenAPI style): the very zod schema its handler
 * parses with, and the name of its entry in `components.schemas`.
 */
export const REQUEST_BODIES = {
  'post /v1/jobs': { name: 'CreateJobBody', schema: createJobBody },
  'patch /v1/jobs/{id}': { name: 'PatchJobBody', schema: patchJobBody },
  'post /v1/jobs/{id}/conversions': { name: 'ConversionSpec', schema: conversionRequest },
  'post /v1/presets': { name: 'CreatePresetBody', schema: createPresetBody },
  'post /v1/jobs/{id}/input': { name: 'InputSpec', schema: inputSpec },
  'post /v1/uploads': { name: 'CreateUploadBody', schema: createSessionBody },
  'post /v1/uploads/{id}/parts': { name: 'SignPartsBody', schema: signPartsBody },
  'post /web/jobs': { name: 'WebJobBody', schema: webJobBody },
  'post /v1/keys': { name: 'CreateApiKeyBody', schema: createApiKeyBody },
  'post /v1/uppy/s3/multipart': { name: 'UppyCreateMultipartBody', schema: uppyCreateBody },
  'post /v1/uppy/t/{job_token}/s3/multipart': { name: 'UppyCreateMultipartBody', schema: uppyCreateBody },
} as const satisfies Record<string, { name: string; schema: z.ZodType }>;

export type BodyOperation = keyof typeof REQUEST_BODIES;

/** Every validated query string, by operation. */
export const QUERIES = {
  'get /v1/jobs': listJobsQuery,
  'get /web/jobs': listJobsQuery,
  'post /v1/jobs': waitQuery,
  'get /v1/jobs/{id}': waitQuery,
  'get /v1/jobs/{id}/output/latest': latestOutputQuery,
  'get /v1/uppy/s3/params': uppyParamsQuery,
  'get /v1/uppy/t/{job_token}/s3/params': uppyParamsQuery,
  'post /v1/uppy/s3/complete': uppyFormKeyQuery,
  'post /v1/uppy/t/{job_token}/s3/complete': uppyFormKeyQuery,
  'get /v1/uppy/s3/multipart/{upload_id}': uppyKeyQuery,
  'get /v1/uppy/t/{job_token}/s3/multipart/{upload_id}': uppyKeyQuery,
  'delete /v1/uppy/s3/multipart/{upload_id}': uppyKeyQuery,
  'delete /v1/uppy/t/{job_token}/s3/multipart/{upload_id}': uppyKeyQuery,
  'get /v1/uppy/s3/multipart/{upload_id}/batch': uppyBatchQuery,
  'get /v1/uppy/t/{job_token}/s3/multipart/{upload_id}/batch': uppyBatchQuery,
  'get /v1/uppy/s3/multipart/{upload_id}/{part_number}': uppyKeyQuery,
  'get /v1/uppy/t/{job_token}/s3/multipart/{upload_id}/{part_number}': uppyKeyQuery,
  'post /v1/uppy/s3/multipart/{upload_id}/complete': uppyKeyQuery,
  'post /v1/uppy/t/{job_token}/s3/multipart/{upload_id}/complete': uppyKeyQuery,
} as const satisfies Record<string, z.ZodObject>;

export type QueryOperation = keyof typeof QUERIES;

/** `components.schemas` entries of the request bodies. */
export function requestBodySchemas(): Record<string, JsonSchema> {
  return Object.fromEntries(Object.values(REQUEST_BODIES).map(({ name, schema }) => [name, requestJsonSchema(schema)]));
}

/** The `requestBody` of an operation: JSON, described by its component. */
export function requestBody(operation: BodyOperation) {
  return {
    required: true,
    content: { 'application/json': { schema: { $ref: `#/components/schemas/${REQUEST_BODIES[operation].name}` } } },
  };
}

/** Query `parameters` of an operation, one per property of its schema. */
export function queryParameters(operation: QueryOperation) {
  const json = requestJsonSchema(QUERIES[operation]) as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, schema]) => ({
    name,
    in: 'query',
    required: json.required?.includes(name) ?? false,
    schema,
  }));
}
