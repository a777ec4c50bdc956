import { randomUUID } from 'node:crypto';
import { KilnError } from '@kiln/contracts';
import type { Input, Prisma, PrismaClient } from '@kiln/database';

type Db = PrismaClient | Prisma.TransactionClient;

/**
 * The input a file fills: the one named by X-Input-Id (or `input_id`), else the job's first upload
 * input still waiting for bytes, else a new upload input. The claim moves it to `uploading` with a
 * conditional update, so two files never fill one input. `beforeNewInput` runs (and may refuse)
 * before a new input is added to the job.
 */
export async function claimUploadInput(
  db: Db,
  jobId: string,
  requested: string | undefined,
  filename?: string,
  beforeNewInput?: () => Promise<void>,
): Promise<Input> {
  if (requested !== undefined) {
    const exists = /^[0-9a-f-]{36}$/i.test(requested)
      ? await db.input.findFirst({ where: { id: requested, jobId } })
      : null;
    if (!exists)
      throw new KilnError('not_found', 'No such input in this job.', [{ field: 'input_id', message: 'unknown input' }]);
    const claimed = await db.input.updateMany({
      where: { id: requested, jobId, type: 'upload', status: 'pending' },
      data: { status: 'uploading' },
    });
    if (!claimed.count)
      throw new KilnError('conflict', `The input is ${exists.status} and takes no upload.`, [
        { field: 'input_id', message: `input is ${exists.status}` },
      ]);
    return { ...exists, status: 'uploading' };
  }
  for (let i = 0; i < 5; i++) {
    const waiting = await db.input.findFirst({
      where: { jobId, type: 'upload', status: 'pending' },
      orderBy: { createdAt: 'asc' },
    });
    if (!waiting) break;
    const claimed = await db.input.updateMany({
      where: { id: waiting.id, status: 'pending' },
      data: { status: 'uploading' },
    });
    if (claimed.count) return { ...waiting, status: 'uploading' };
  }
  await beforeNewInput?.();
  return db.input.create({
    data: {
      id: randomUUID(),
      jobId,
      type: 'upload',
      source: 'upload',
      filename: filename ?? null,
      status: 'uploading',
    },
  });
}
