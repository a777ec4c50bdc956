import { z } from 'zod';

/** The longest a request may wait for a job to end (seconds). */
export const MAX_WAIT_SECONDS = 300;

/**
 * `wait`: seconds to hold the answer until the job ends, a whole number from 0 to 300 (0 or absent:
 * answer at once). Written as digits only: `1.5`, `-1`, `1e2`, ` 5` and an empty value are refused.
 */
const waitSeconds = z
  .string()
  .regex(/^\d{1,3}$/, `must be whole seconds from 0 to ${MAX_WAIT_SECONDS}`)
  .transform(Number)
  .refine((n) => n <= MAX_WAIT_SECONDS, `must be whole seconds from 0 to ${MAX_WAIT_SECONDS}`)
  .optional()
  .meta({
    description: `Seconds (0 to ${MAX_WAIT_SECONDS}) to hold the answer until the job has ended; at the deadline the current state is answered.`,
  });

/** Query of `GET /v1/jobs/{id}` and `POST /v1/jobs`; other query parameters are ignored, as before. */
export const waitQuery = z.object({ wait: waitSeconds });

/** Query of `GET /v1/jobs/{id}/output/latest`. */
export const latestOutputQuery = waitQuery.extend({
  redirect: z
    .enum(['true', 'false'], { message: 'must be true or false' })
    .optional()
    .meta({ description: 'true: answer 302 to the output’s download URL instead of the Output JSON.' }),
});
