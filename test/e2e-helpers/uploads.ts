// Upload sessions seen from the outside: waiting for assembly, and running the assembler's
// expire-uploads maintenance task on demand.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { type Stack, json, waitFor } from '../stack';

/** Waits until an upload is assembled (throws if it failed) and returns it. */
export async function assembledUpload(stack: Stack, uploadId: string) {
  return waitFor(
    'assembly',
    async () => {
      const u = await json(stack.api(`/v1/uploads/${uploadId}`));
      if (u.status === 'failed') throw new Error(`upload failed: ${u.error}`);
      return u.assembled ? u : undefined;
    },
    120_000,
  );
}

/** Runs the assembler's expire-uploads maintenance task now and waits for it to finish. */
export async function runMaintenance(stack: Stack) {
  const redis = new Redis(stack.env.REDIS_URL, { maxRetriesPerRequest: null });
  const q = new Queue('maintenance', { connection: redis, prefix: stack.env.KILN_QUEUE_PREFIX });
  try {
    const job = await q.add('maintenance', { task: 'expire-uploads' }, { jobId: `test-expire-${Date.now()}` });
    await waitFor('maintenance run', async () => (await q.getJob(job.id!))?.finishedOn);
  } finally {
    await q.close();
    redis.disconnect();
  }
}
