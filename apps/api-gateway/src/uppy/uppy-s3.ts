import { z } from 'zod';
import { KilnError } from '@kiln/contracts';
import type { Principal } from '../auth/principal';
import type { UploadView } from '../uploads/upload-view';

/**
 * What the Uppy endpoints use of Kiln's direct uploads (DirectUploadsService, shared/design issue 14):
 * sessions whose bytes go straight to S3 with presigned URLs.
 */
export interface DirectUploadsApi {
  create(principal: Principal, body: unknown, origin: string): Promise<UploadView>;
  signParts(
    principal: Principal,
    id: string,
    partNumbers: number[],
  ): Promise<{
    parts: { part_number: number; size: number; url: string; headers?: Record<string, string> }[];
    expires_at: number;
  }>;
  listParts(principal: Principal, id: string): Promise<{ part_number: number; size: number; etag: string }[]>;
  complete(principal: Principal, id: string, origin: string): Promise<UploadView>;
}
export const DIRECT_UPLOADS = 'kiln:direct-uploads';

/** Uppy's own smallest part (S3's minimum): @uppy/aws-s3 cuts parts of max(5 MiB, getChunkSize(file)). */
export const UPPY_MIN_PART = 5 * 1024 * 1024;

/** The upload fields Kiln reads from an Uppy file's metadata (everything else is ignored). */
export interface UppyUploadFields {
  size: number;
  part_size?: number;
  job_id?: string;
  input_id?: string;
  checksum_sha256?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MEDIA_TYPE = /^[\w.+-]+\/[\w.+-]+$/;

/** A whole number from a metadata value (Uppy sends numbers in JSON, strings in a query). */
function wholeNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^\d{1,16}$/.test(value.trim())) return Number(value.trim());
  return undefined;
}

function bad(field: string, message: string): KilnError {
  return new KilnError('invalid_input', `Invalid Uppy request: ${field}: ${message}`, [{ field, message }]);
}

/**
 * The body of Kiln's `POST /v1/uploads` (direct) from what Uppy sends: `filename`, `type` and the file's
 * metadata. Uppy does not send the file's size: the page sets `meta.size` (the file's size in bytes).
 * Without `meta.part_size`, parts are Uppy's default: max(5 MiB, ceil(size / 10000)), which is Kiln's
 * part size rule with a requested 5 MiB; a page that sets Uppy's `getChunkSize` sends that value
 * as `meta.part_size`.
 */
export function uploadFieldsOf(metadata: Record<string, unknown>, principal: Principal): UppyUploadFields {
  const size = wholeNumber(metadata.size);
  if (size === undefined || size < 1)
    throw bad('metadata.size', "required: the file's size in bytes (set meta.size on the Uppy file)");
  const fields: UppyUploadFields = { size };
  if (metadata.part_size !== undefined) {
    const partSize = wholeNumber(metadata.part_size);
    if (partSize === undefined) throw bad('metadata.part_size', 'must be a whole number of bytes');
    fields.part_size = Math.max(partSize, UPPY_MIN_PART);
  }
  for (const name of ['job_id', 'input_id'] as const) {
    const v = metadata[name];
    if (v === undefined || v === '') continue;
    if (typeof v !== 'string' || !UUID.test(v)) throw bad(`metadata.${name}`, 'must be a UUID');
    fields[name] = v.toLowerCase();
  }
  // A job token opens uploads into its own job: job_id may be left out.
  if (principal.kind === 'job-token' && fields.job_id === undefined) fields.job_id = principal.jobId;
  if (metadata.checksum_sha256 !== undefined) {
    const v = metadata.checksum_sha256;
    if (typeof v !== 'string' || !/^[0-9a-f]{64}$/i.test(v))
      throw bad('metadata.checksum_sha256', 'must be 64 hex characters');
    fields.checksum_sha256 = v.toLowerCase();
  }
  return fields;
}

/** Kiln's create body for one Uppy file. `transfer` is `form` for /s3/params, `multipart` for /s3/multipart. */
export function createBodyOf(
  filename: unknown,
  type: unknown,
  metadata: Record<string, unknown>,
  principal: Principal,
  transfer: 'form' | 'multipart',
): Record<string, unknown> {
  if (typeof filename !== 'string' || filename.trim() === '') throw bad('filename', 'required');
  const fields = uploadFieldsOf(metadata, principal);
  const body: Record<string, unknown> = { filename, mode: 'direct', transfer, size: fields.size };
  if (transfer === 'multipart') body.part_size = fields.part_size ?? UPPY_MIN_PART;
  if (fields.job_id) body.job_id = fields.job_id;
  if (fields.input_id) body.input_id = fields.input_id;
  if (fields.checksum_sha256) body.checksum_sha256 = fields.checksum_sha256;
  // Uppy sends application/octet-stream for a file the browser could not type: that says nothing.
  if (typeof type === 'string' && MEDIA_TYPE.test(type) && type !== 'application/octet-stream')
    body.content_type = type;
  return body;
}

/**
 * `metadata[name]=value` pairs of a query string (how Uppy sends a form upload's metadata), read from
 * the raw URL so Express's query parser settings do not matter.
 */
export function queryMetadata(url: string): Record<string, string> {
  const q = url.indexOf('?');
  const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const meta: Record<string, string> = {};
  for (const [k, v] of params) {
    const m = /^metadata\[([^\]]{1,64})\]$/.exec(k);
    if (m) meta[m[1]] = v;
  }
  return meta;
}

/** Part numbers of `?partNumbers=1,2,3` (Companion's batch signing). */
export function partNumbersOf(value: unknown): number[] {
  if (typeof value !== 'string' || value === '') throw bad('partNumbers', 'required: comma separated part numbers');
  const numbers = value.split(',').map((p) => wholeNumber(p));
  if (numbers.some((n) => n === undefined || n < 1 || n > 10_000))
    throw bad('partNumbers', 'each must be a part number from 1 to 10000');
  return numbers as number[];
}

/**
 * The Kiln upload an Uppy `key` names: Kiln answers Uppy with key = the upload id (multipart); a form
 * upload's key is its S3 object key, which holds the upload id (`chunks/<upload id>/…`, or
 * `uploads/<upload id>/…`), and is what Uppy reports after a form upload (`response.body.key`).
 */
export function keyTarget(key: string): string | undefined {
  if (UUID.test(key)) return key.toLowerCase();
  const m = /^(?:chunks|uploads)\/([0-9a-f-]{36})\/[^/]+$/i.exec(key);
  return m && UUID.test(m[1]) ? m[1].toLowerCase() : undefined;
}

// The requests' zod schemas (the OpenAPI document shows them; 400 invalid_input names the field).
const uppyKey = z.string().max(1024).optional().meta({ description: 'What Kiln answered as key (the upload id)' });
/** `?key=` of the multipart calls. */
export const uppyKeyQuery = z.object({ key: uppyKey });
/** `?key=&partNumbers=1,2` of batch signing (older Uppy). */
export const uppyBatchQuery = z.object({
  key: uppyKey,
  partNumbers: z.string().max(60_000).meta({ description: 'Comma separated part numbers' }),
});
/** `POST …/s3/complete?key=`: a form upload's key (`fields.key` of /s3/params). */
export const uppyFormKeyQuery = z.object({
  key: z.string().min(1).max(1024).meta({ description: "The form's fields.key (Uppy's response.body.key)" }),
});
const metadataValue = (description: string) => z.string().max(255).optional().meta({ description });
/** `GET …/s3/params`: what Uppy sends for a form upload (other `metadata[…]` pairs are ignored). */
export const uppyParamsQuery = z.object({
  filename: z.string().max(4096),
  type: z.string().max(255).optional(),
  'metadata[size]': z
    .string()
    .max(16)
    .meta({ description: "The file's size in bytes (required: Uppy does not send it)" }),
  'metadata[job_id]': metadataValue('The job whose input this file is'),
  'metadata[input_id]': metadataValue('Which input of the job'),
  'metadata[checksum_sha256]': metadataValue('SHA-256 of the whole file, checked after assembly'),
});
/** `POST …/s3/multipart`: `{filename, type, metadata}` (metadata: size, part_size, job_id, input_id, checksum_sha256). */
export const uppyCreateBody = z.object({
  filename: z.string().max(4096),
  type: z.string().max(255).optional(),
  metadata: z
    .record(z.string(), z.unknown())
    .optional()
    .meta({ description: 'The Uppy file’s metadata: size (required), part_size, job_id, input_id, checksum_sha256' }),
});
