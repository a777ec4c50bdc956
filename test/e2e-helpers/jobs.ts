// Jobs submitted the way a client does: created with one conversion and a callback, then a file
// uploaded into them.
import { type Stack, json, waitFor } from '../stack';

/** The job statuses that do not change any more. */
export const ENDED = ['completed', 'failed', 'canceled'];

/** Creates a job with one conversion (and a callback, when given), uploads `file` into it, and returns its id. */
export async function submitJob(
  stack: Stack,
  file: Buffer,
  filename: string,
  conversion: unknown,
  callback?: string,
): Promise<string> {
  const res = await stack.api('/v1/jobs', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ conversion: [conversion], ...(callback ? { callback } : {}) }),
  });
  expect(res.status).toBe(201);
  const job = await json(res);
  const form = new FormData();
  form.append('file', new Blob([file]), filename);
  const up = await stack.api(`/v1/jobs/${job.id}/upload`, { method: 'POST', body: form });
  expect(up.status).toBe(201);
  return job.id;
}

/** The job's JSON once its status no longer changes (completed, failed, canceled). */
// biome-ignore lint/suspicious/noExplicitAny: the API's job JSON, checked by the caller's assertions
export function jobEnded(stack: Stack, id: string, timeoutMs = 120_000): Promise<any> {
  return waitFor(
    'job end',
    async () => {
      const j = await json(stack.api(`/v1/jobs/${id}`));
      return ENDED.includes(j.status.code) ? j : undefined;
    },
    timeoutMs,
  );
}
