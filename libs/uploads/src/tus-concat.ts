/**
 * tus concatenation (https://tus.io/protocols/resumable-upload#concatenation): a final upload is
 * the concatenation of partial uploads. Each partial is assembled on its own (into its own
 * object, never a job input); the final is assembled from those objects once every one of them is.
 * The gateway (final created) and the assembler (a partial assembled) both ask `finalReady` under
 * the final's advisory lock, so exactly one of them sees the last piece arrive and queues the
 * final's assembly.
 */
import type { PrismaClient, Upload } from '@kiln/database';
import { objectKeys, type ObjectStore } from '@kiln/storage';

export const TUS_CONCAT_PARTIAL = 'partial';
export const TUS_CONCAT_FINAL = 'final';

/**
 * The partials a final took (an assembled, refused or terminated final): their assembled objects,
 * open multipart uploads, chunk leftovers and rows. Storage errors leave an object to the orphan
 * sweep; the rows go regardless. Returns how many partials were removed.
 */
export async function removeConcatPartials(
  db: Pick<PrismaClient, 'upload'>,
  store: ObjectStore,
  final: Pick<Upload, 'id' | 'concatParts'>,
): Promise<number> {
  let removed = 0;
  for (const p of await concatPartials(db, final)) {
    if (p.concatFinalId !== final.id) continue;
    if (p.multipartId && p.multipartKey && !p.completedAt)
      await store.abortMultipart(p.multipartKey, p.multipartId).catch(() => undefined);
    if (p.objectKey) await store.remove(p.objectKey).catch(() => undefined);
    await store.removePrefix(objectKeys.uploadChunks(p.id)).catch(() => undefined);
    removed += (await db.upload.deleteMany({ where: { id: p.id } })).count;
  }
  return removed;
}

/** The partial uploads of a final, in its order (missing ones left out). */
export async function concatPartials(
  db: Pick<PrismaClient, 'upload'>,
  final: Pick<Upload, 'concatParts'>,
): Promise<Upload[]> {
  const rows = await db.upload.findMany({ where: { id: { in: final.concatParts } } });
  const byId = new Map(rows.map((r) => [r.id, r]));
  return final.concatParts.flatMap((id) => byId.get(id) ?? []);
}

/**
 * When every partial of the final is assembled (and the final still waits): marks the final
 * `complete` with all its bytes received and its input `assembling`, and returns it; the caller
 * queues its assembly. Null otherwise (not ready, or another caller saw it first).
 */
export async function finalReady(prisma: PrismaClient, finalId: string): Promise<Upload | null> {
  return prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`concat:${finalId}`}, 0))`;
    const final = await tx.upload.findUnique({ where: { id: finalId } });
    if (!final || final.tusConcat !== TUS_CONCAT_FINAL || final.status !== 'uploading') return null;
    const partials = await concatPartials(tx, final);
    if (partials.length !== final.concatParts.length) return null;
    if (!partials.every((p) => p.completedAt && p.objectKey && p.concatFinalId === final.id)) return null;
    const done = await tx.upload.update({
      where: { id: final.id },
      data: { status: 'complete', receivedBytes: final.size },
    });
    if (final.inputId)
      await tx.input.updateMany({
        where: { id: final.inputId, status: { in: ['pending', 'uploading'] } },
        data: { status: 'assembling' },
      });
    return done;
  });
}
