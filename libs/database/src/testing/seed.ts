import { randomUUID } from 'node:crypto';
import type { Prisma, PrismaClient } from '../prisma';

/** A job row as a test needs it: its own id, token and owner, `process: true`, and these fields over them. */
export async function seedJobRow(
  prisma: PrismaClient,
  fields: Omit<Partial<Prisma.JobUncheckedCreateInput>, 'id'> = {},
): Promise<string> {
  const id = randomUUID();
  await prisma.job.create({
    data: { id, ownerKeyHash: 'a'.repeat(64), token: randomUUID().replace(/-/g, ''), process: true, ...fields },
  });
  return id;
}

/** One unit of a job: a ready uploaded input, a queued mp4 conversion and their output with these fields. */
export async function seedUnitRows(
  prisma: PrismaClient,
  jobId: string,
  output: Omit<Partial<Prisma.OutputUncheckedCreateInput>, 'id' | 'jobId' | 'inputId' | 'conversionId'> = {},
): Promise<{ inputId: string; conversionId: string; outputId: string }> {
  const inputId = randomUUID();
  const conversionId = randomUUID();
  const outputId = randomUUID();
  await prisma.input.create({
    data: { id: inputId, jobId, type: 'upload', status: 'ready', objectKey: `inputs/${jobId}/x` },
  });
  await prisma.conversion.create({
    data: { id: conversionId, jobId, target: 'mp4', category: 'video', status: 'queued' },
  });
  await prisma.output.create({ data: { id: outputId, jobId, inputId, conversionId, status: 'queued', ...output } });
  return { inputId, conversionId, outputId };
}
