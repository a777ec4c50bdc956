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
});
export type CreateSessionBody = z.infer<typeof createSessionBody>;
