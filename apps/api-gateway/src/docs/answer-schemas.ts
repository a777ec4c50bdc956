import {
  CATALOG,
  ENGINES,
  INPUT_KINDS,
  InputStatus,
  JobStatus,
  TaskStatus,
  type ConversionView,
  type InputView,
  type JobError,
  type JobList,
  type JobView,
  type OutputView,
  type PresetView,
  type UploadView,
  type DirectPartView,
  type SignedPartView,
  type UploadModesView,
} from '@kiln/contracts';
import type { JsonSchema } from './request-schemas';

/**
 * The answers' shapes. libs/contracts declares them as TypeScript types only (api-views.ts), so each is
 * described here once, and `view<T>()` makes the compiler hold the description to the type: every
 * property of the view is described, none is invented, and exactly the optional ones are not required.
 */
type OptionalKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? K : never }[keyof T];

function view<T>(
  description: string,
  properties: { [K in keyof T]-?: JsonSchema },
  optional: readonly OptionalKeys<T>[] = [],
): JsonSchema {
  const skip = new Set<PropertyKey>(optional);
  return { type: 'object', description, required: Object.keys(properties).filter((k) => !skip.has(k)), properties };
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const str = { type: 'string' };
const strOrNull = { type: ['string', 'null'] };
const intOrNull = { type: ['integer', 'null'] };
const time = { type: 'string', format: 'date-time' };
const timeOrNull = { type: ['string', 'null'], format: 'date-time' };
const uuid = { type: 'string', format: 'uuid' };
const values = (o: Record<string, string>) => ({ type: 'string', enum: Object.values(o) });

const JobErrorSchema = view<JobError>(
  'Why a job, an input, a conversion or a callback failed.',
  {
    code: str,
    message: str,
    source: { type: 'string', enum: ['input', 'conversion', 'callback'] },
    input_id: uuid,
    conversion_id: uuid,
  },
  ['input_id', 'conversion_id'],
);

export function answerSchemas(): Record<string, JsonSchema> {
  return {
    Input: view<InputView>(
      'A file of the job: uploaded or fetched from a URL.',
      {
        id: uuid,
        type: { type: 'string', enum: ['remote', 'upload'] },
        source: strOrNull,
        filename: strOrNull,
        size: intOrNull,
        content_type: strOrNull,
        checksum_sha256: strOrNull,
        status: values(InputStatus),
        error: str,
        media: {
          type: 'object',
          description:
            "What the engine's probe found once the file is converted: duration_s, width, height, codecs… (pages for a PDF)",
        },
        kind: {
          type: 'string',
          enum: [...INPUT_KINDS],
          description: 'What the file is, read from its first bytes once it is ready (not from its name).',
        },
        format: {
          type: 'string',
          description: 'The detected format (png, docx, mp4…), `unknown` when no engine reads it.',
        },
        created_at: time,
      },
      ['error', 'media', 'kind', 'format'],
    ),
    Conversion: view<ConversionView>(
      'One target applied to every input of the job.',
      {
        id: uuid,
        target: { type: 'string', enum: CATALOG.map((t) => t.target) },
        category: { type: 'string', enum: [...new Set(CATALOG.map((t) => t.category))] },
        options: { type: 'object' },
        status: values(TaskStatus),
        progress: { type: 'integer', minimum: 0, maximum: 100 },
        error: str,
      },
      ['error'],
    ),
    Preset: view<PresetView>('A named conversion of this API key: `{"preset": "<id or name>"}` in a conversion.', {
      id: uuid,
      name: str,
      target: { type: 'string', enum: CATALOG.map((t) => t.target) },
      category: { type: 'string', enum: [...new Set(CATALOG.map((t) => t.category))] },
      options: { type: 'object' },
      created_at: time,
    }),
    Output: view<OutputView>(
      'One converted file (or a set of files): an input × a conversion.',
      {
        id: uuid,
        conversion_id: uuid,
        input_id: uuid,
        filename: strOrNull,
        size: intOrNull,
        content_type: strOrNull,
        checksum_sha256: strOrNull,
        uri: { type: ['string', 'null'], format: 'uri', description: 'A time-limited download URL.' },
        created_at: time,
        files: {
          type: 'array',
          description:
            'An output of several files (HLS playlists and segments, PDF pages): each file, the first being the output itself, with its own time-limited URL; `name` is relative, as the playlists refer to each other.',
          items: {
            type: 'object',
            required: ['name', 'size', 'content_type', 'checksum_sha256', 'uri'],
            properties: {
              name: str,
              size: { type: 'integer' },
              content_type: str,
              checksum_sha256: str,
              uri: { type: 'string', format: 'uri' },
            },
          },
        },
        stream_uri: {
          type: 'string',
          format: 'uri',
          description:
            'HLS outputs: the master playlist at a signed path of the gateway, playable as it is (its relative URIs resolve to the renditions and segments).',
        },
      },
      ['files', 'stream_uri'],
    ),
    Job: view<JobView>(
      'A job: inputs × conversions = outputs.',
      {
        id: uuid,
        token: {
          type: 'string',
          description: 'Only in the answer that creates the job: authorizes its uploads and events (X-Job-Token).',
        },
        status: { type: 'object', required: ['code', 'info'], properties: { code: values(JobStatus), info: str } },
        errors: { type: 'array', items: JobErrorSchema },
        process: { type: 'boolean' },
        callback: strOrNull,
        notify_status: {
          type: 'boolean',
          description:
            'A callback on every status change (job.downloading, job.queued, job.processing), not only at the end.',
        },
        tag: strOrNull,
        input: { type: 'array', items: ref('Input') },
        conversion: { type: 'array', items: ref('Conversion') },
        output: { type: 'array', items: ref('Output') },
        progress: { type: 'integer', minimum: 0, maximum: 100 },
        created_at: time,
        modified_at: time,
        started_at: timeOrNull,
        finished_at: timeOrNull,
        spent_ms: { type: 'integer' },
        expires_at: {
          ...timeOrNull,
          description:
            "When the job's files and rows are deleted (then 404): its own expires_at, else finished_at + KILN_JOB_RETENTION_SECONDS; null while it runs without one, or when kept (expires_at 0).",
        },
      },
      ['token'],
    ),
    JobList: view<JobList>('A page of jobs, newest first.', {
      items: { type: 'array', items: ref('Job') },
      next_cursor: { type: ['string', 'null'], description: 'Pass as `cursor` for the next page; null on the last.' },
    }),
    Upload: view<UploadView>(
      'An upload session (POST /v1/uploads, or a tus upload).',
      {
        id: uuid,
        location: { type: 'string', description: 'The URL to PUT chunks to.' },
        filename: str,
        size: { type: 'integer' },
        job_id: { type: ['string', 'null'], format: 'uuid' },
        input_id: { type: ['string', 'null'], format: 'uuid' },
        content_type: strOrNull,
        checksum_sha256: strOrNull,
        chunk_size_min: { type: 'integer' },
        chunk_size_max: { type: 'integer' },
        received: {
          type: 'array',
          description: 'Byte ranges stored, [start, end] inclusive.',
          items: { type: 'array', items: { type: 'integer' }, minItems: 2, maxItems: 2 },
        },
        received_bytes: { type: 'integer' },
        offset: { type: 'integer', description: 'The first missing byte: where to resume.' },
        status: { type: 'string', enum: ['uploading', 'complete', 'failed'] },
        assembled: { type: 'boolean' },
        error: str,
        expires_at: { type: 'integer', description: 'Epoch seconds; 0 = never.' },
        created_at: time,
        input: ref('Input'),
        mode: {
          type: 'string',
          enum: ['direct', 'proxied'],
          description: 'direct: the bytes go straight to S3 with presigned URLs; proxied: through the gateway.',
        },
        transfer: {
          type: 'string',
          enum: ['form', 'multipart'],
          description: 'Direct sessions: one presigned POST form, or presigned part PUTs.',
        },
        form_post_url: { type: 'string', description: 'Direct form: POST multipart/form-data here.' },
        form_post_params: {
          type: 'object',
          additionalProperties: { type: 'string' },
          description: 'Direct form: the fields to send first; the file goes last as field `file`.',
        },
        form_post_expires_at: { type: 'integer', description: 'Direct form: epoch seconds.' },
        part_size: { type: 'integer', description: 'Direct multipart: bytes per part (the last may be shorter).' },
        part_count: { type: 'integer' },
        parts: {
          type: 'array',
          description: 'Direct multipart: the parts S3 holds (ListParts), the resume list.',
          items: ref('DirectPart'),
        },
        parts_url: { type: 'string', description: 'Direct multipart: POST part numbers here for presigned URLs.' },
      },
      [
        'error',
        'input',
        'mode',
        'transfer',
        'form_post_url',
        'form_post_params',
        'form_post_expires_at',
        'part_size',
        'part_count',
        'parts',
        'parts_url',
      ],
    ),
    DirectPart: view<DirectPartView>('A part of a direct multipart upload as S3 holds it.', {
      part_number: { type: 'integer' },
      size: { type: 'integer' },
      etag: str,
    }),
    SignedParts: {
      type: 'object',
      description: 'Presigned part URLs (POST /v1/uploads/{id}/parts).',
      required: ['parts', 'expires_at'],
      properties: {
        parts: {
          type: 'array',
          items: view<SignedPartView>('PUT exactly `size` bytes to `url` with these headers; S3 answers the ETag.', {
            part_number: { type: 'integer' },
            size: { type: 'integer' },
            url: str,
            method: { type: 'string', enum: ['PUT'] },
            headers: { type: 'object', additionalProperties: { type: 'string' } },
          }),
        },
        expires_at: { type: 'integer', description: 'Epoch seconds: sign again for fresh URLs after it.' },
      },
    },
    UploadModes: view<UploadModesView>(
      'The upload modes this server offers (GET /v1/uploads/modes).',
      {
        modes: { type: 'array', items: { type: 'string', enum: ['direct', 'proxied'] } },
        default: { type: 'string', enum: ['proxied'] },
        recommended: { type: 'string', enum: ['direct', 'proxied'] },
        direct: {
          type: 'object',
          description: 'Absent when KILN_DIRECT_UPLOADS=false.',
          properties: {
            part_size: { type: 'integer' },
            part_size_min: { type: 'integer' },
            max_parts: { type: 'integer' },
            form_max: { type: 'integer' },
            url_ttl_seconds: { type: 'integer' },
          },
        },
      },
      ['direct'],
    ),
    CallbackAttempt: {
      type: 'object',
      description: 'One delivery attempt of the job’s callback.',
      properties: {
        id: uuid,
        delivery_id: { type: 'string', description: 'X-Kiln-Delivery of the attempt.' },
        event: { type: 'string', enum: ['job.completed', 'job.failed', 'job.canceled'] },
        url: str,
        attempt: { type: 'integer', minimum: 1 },
        status_code: intOrNull,
        error: strOrNull,
        duration_ms: { type: 'integer' },
        at: time,
      },
    },
    Target: {
      type: 'object',
      description: 'A conversion target of the catalog.',
      properties: {
        target: str,
        category: {
          type: 'string',
          enum: ['video', 'audio', 'image', 'document', 'spreadsheet', 'presentation', 'data'],
        },
        description: str,
        extension: str,
        content_type: str,
        accepts: { type: 'array', items: { type: 'string', enum: [...INPUT_KINDS] } },
        engines: {
          type: 'object',
          description: 'Input kind → the engine that makes this target from it (ffmpeg, vips, office).',
          additionalProperties: { type: 'string', enum: [...ENGINES] },
        },
        options: {
          type: 'object',
          description:
            'Option name → {type: integer|number, min, max, default?, description}, {type: enum, values, default?, description} or {type: boolean, default?, description}.',
        },
        options_for: {
          type: 'object',
          description: 'Engine → the options it reads, when not every option applies to every input kind.',
          additionalProperties: { type: 'array', items: str },
        },
      },
    },
    HealthChecks: {
      type: 'object',
      properties: {
        status: { type: 'string', enum: ['ok', 'unavailable'] },
        checks: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              name: { type: 'string', enum: ['database', 'redis', 'storage'] },
              ok: { type: 'boolean' },
              ms: { type: 'integer' },
              error: str,
            },
          },
        },
      },
    },
  };
}
