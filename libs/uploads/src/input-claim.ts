import { randomUUID } from 'node:crypto';
import { KilnError } from '@kiln/contracts';
import type { Input, Prisma, PrismaClient } from '@kiln/database';

type Db = PrismaClient | Prisma.TransactionClient;

/** The input a file fills, as its claim leaves it. */
export type ClaimedInput = Pick<Input, 'id' | 'filename' | 'size' | 'status'>;

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
): Promise<ClaimedInput> {
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
    // One statement: the first waiting input, claimed while it still waits (another file may take it
    // first: then `picked` names it and `id` is null, and the next one is tried).
    const [row] = await db.$queryRaw<
      { picked: string | null; id: string | null; filename: string | null; size: bigint | null }[]
    >`
      WITH pick AS (
        SELECT id FROM inputs WHERE job_id = ${jobId}::uuid AND type = 'upload' AND status = 'pending'
        ORDER BY created_at LIMIT 1),
      claimed AS (
        UPDATE inputs SET status = 'uploading' WHERE id = (SELECT id FROM pick) AND status = 'pending'
        RETURNING id, filename, size)
      SELECT (SELECT id FROM pick) AS picked, claimed.id, claimed.filename, claimed.size
      FROM (SELECT 1) one LEFT JOIN claimed ON true`;
    if (!row?.picked) break;
    if (row.id) return { id: row.id, filename: row.filename, size: row.size, status: 'uploading' };
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
