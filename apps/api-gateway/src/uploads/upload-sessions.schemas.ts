import { z } from 'zod';
import { byteCount, clientFilename } from '../jobs/jobs.schemas';

/** The last second of year 9999: any later `expires_at` (epoch seconds) is refused as out of range. */
export const EXPIRES_AT_MAX = 253_402_300_799;

/** `POST /v1/uploads`: a file name as the client states it, a size of at least one byte, an expiry a date can hold. */
export const createSessionBody = z.strictObject({
  filename: clientFilename,
  size: byteCount.min(1),
  job_id: z.string().uuid().optional(),
  input_id: z.string().uuid().optional(),
  content_type: z
    .string()
    .max(255)
    .regex(/^[\w.+-]+\/[\w.+-]+$/, 'must be a media type such as video/mp4')
    .optional(),
  checksum_sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters')
    .optional(),
  /** Epoch seconds; 0 = never; default now + KILN_UPLOAD_TTL_SECONDS. */
  expires_at: z
    .number()
    .int('must be whole epoch seconds')
    .min(0)
    .max(EXPIRES_AT_MAX, 'must be epoch seconds no later than the year 9999 (or 0 for never)')
    .optional()
    .meta({ description: 'Epoch seconds; 0 = never; default now + KILN_UPLOAD_TTL_SECONDS.' }),
  /** `direct`: the client sends the bytes straight to S3 with presigned URLs (GET /v1/uploads/modes). */
  mode: z
    .enum(['direct', 'proxied'])
    .optional()
    .meta({ description: 'proxied (default): chunks go through the gateway; direct: straight to S3, presigned.' }),
  /** Direct sessions: `form` (one presigned POST, up to 5 GiB) or `multipart` (presigned part PUTs). */
  transfer: z
    .enum(['form', 'multipart'])
    .optional()
    .meta({ description: 'Direct only. Default: form up to KILN_DIRECT_FORM_MAX bytes, else multipart.' }),
  /** Direct multipart: bytes per part (5 MiB..5 GiB), default KILN_DIRECT_PART_SIZE. */
  part_size: z
    .number()
    .int()
    .min(5 * 1024 ** 2, 'must be at least 5 MiB (5242880)')
    .max(5 * 1024 ** 3, 'must be at most 5 GiB')
    .optional()
    .meta({ description: 'Direct multipart only: bytes per part; raised to size / 10,000 when smaller.' }),
});
export type CreateSessionBody = z.infer<typeof createSessionBody>;

/** `POST /v1/uploads/{id}/parts`: the part numbers to presign (1..1000 of them). */
export const signPartsBody = z.strictObject({
  part_numbers: z
    .array(z.number().int('must be whole numbers').min(1, 'part numbers start at 1'))
    .min(1, 'name at least one part')
    .max(1000, 'at most 1000 parts per request'),
});
