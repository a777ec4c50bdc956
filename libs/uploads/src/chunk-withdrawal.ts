/**
 * Taking back what a refused request stored: a refusal changes nothing. Each step runs under the
 * upload's advisory lock and checks that what it removes is still only the refused request's own
 * (its chunk rows by object key, an upload with no byte recorded, a multipart upload with no part
 * kept), so a request that succeeded meanwhile never loses what it stored.
 */
import type { PrismaClient } from '@kiln/database';
import { objectKeys, type ObjectStore } from '@kiln/storage';
import { mergeRanges } from './byte-ranges';
import { lockedUpload, recording, type StoredChunk, type Tx } from './chunk-records';
import type { UploadLocks } from './upload-lock';

/** How long taking back a multipart upload waits for another request starting one. */
const MULTIPART_LOCK_WAIT_MS = 10_000;

/**
 * Removes chunks a refused request recorded (a tus PATCH whose body went over its room after some
 * segments were stored): their rows and received bytes, then their objects. Only while the upload
 * is still `uploading` (a recorded chunk never completed it: the completing segment waits for the
 * body's end). Returns the bytes taken back.
 */
export async function withdrawChunks(
  prisma: PrismaClient,
  store: ObjectStore,
  uploadId: string,
  chunks: readonly StoredChunk[],
): Promise<number> {
  if (!chunks.length) return 0;
  const keys = chunks.flatMap((c) => (c.objectKey ? [c.objectKey] : []));
  const parts = chunks.flatMap((c) => (c.partNumber !== undefined ? [c.partNumber] : []));
  const bytes = await recording(prisma, async (tx) => {
    const current = await lockedUpload(tx, uploadId);
    if (current.status !== 'uploading') return 0;
    const rows = await tx.uploadChunk.findMany({
      where: { uploadId, OR: [{ objectKey: { in: keys } }, { partNumber: { in: parts } }] },
    });
    const total = rows.reduce((n, c) => n + (c.end - c.start + 1n), 0n);
    await tx.uploadChunk.deleteMany({ where: { id: { in: rows.map((c) => c.id) } } });
    // The merged ranges are read again from the rows that stay (a rare path: a refused PATCH).
    const rest = await tx.uploadChunk.findMany({ where: { uploadId }, select: { start: true, end: true } });
    const received = mergeRanges(rest.map((c) => ({ start: Number(c.start), end: Number(c.end) })));
    await tx.upload.update({
      where: { id: uploadId },
      data: { receivedBytes: (current.receivedBytes ?? 0n) - total, received },
    });
    return Number(total);
  });
  await Promise.all(keys.map((k) => store.remove(k).catch(() => undefined)));
  return bytes;
}

/**
 * Removes an upload opened by a request that was then refused (the first chunk of a job upload),
 * when no byte of it is recorded: its row (`restore` puts back what opening it changed, in the
 * same transaction), its multipart upload and chunk objects. False when another request stored a
 * chunk meanwhile (the upload stays: it is theirs now).
 */
export async function discardUnusedUpload(
  prisma: PrismaClient,
  store: ObjectStore,
  uploadId: string,
  restore: (tx: Tx) => Promise<void>,
): Promise<boolean> {
  const removed = await recording(prisma, async (tx) => {
    const current = await lockedUpload(tx, uploadId).catch(() => null);
    if (current?.status !== 'uploading') return null;
    if (await tx.uploadChunk.count({ where: { uploadId } })) return null;
    await tx.upload.delete({ where: { id: uploadId } });
    await restore(tx);
    return current;
  });
  if (!removed) return false;
  if (removed.multipartId && removed.multipartKey)
    await store.abortMultipart(removed.multipartKey, removed.multipartId).catch(() => undefined);
  await store.removePrefix(objectKeys.uploadChunks(uploadId)).catch(() => undefined);
  return true;
}

/**
 * Aborts the multipart upload a refused part started, when it holds no part but the refused one
 * (`ownPart`, whose number the refused request holds the lock of) and no recorded part: the
 * upload's row forgets it first (under the same locks that start one), so the next part starts a
 * new one. A part another request stored in it meanwhile keeps it (a request whose part was still
 * on its way is answered 409 and sends again).
 */
export async function releaseUnusedMultipart(
  prisma: PrismaClient,
  store: ObjectStore,
  locks: UploadLocks,
  uploadId: string,
  multipart: { id: string; key: string },
  ownPart: number,
): Promise<boolean> {
  const lock = await locks.acquireWaiting(uploadId, 'multipart', MULTIPART_LOCK_WAIT_MS).catch(() => null);
  if (!lock) return false;
  try {
    const parts = await store.listParts(multipart.key, multipart.id).catch(() => null);
    if (parts === null || parts.some((p) => p.partNumber !== ownPart)) return false;
    const forgotten = await recording(prisma, async (tx) => {
      const current = await lockedUpload(tx, uploadId).catch(() => null);
      if (current?.multipartId !== multipart.id) return false;
      if (await tx.uploadChunk.count({ where: { uploadId, partNumber: { not: null } } })) return false;
      await tx.upload.update({ where: { id: uploadId }, data: { multipartId: null, multipartKey: null } });
      return true;
    });
    if (forgotten) await store.abortMultipart(multipart.key, multipart.id);
    return forgotten;
  } finally {
    await lock.release();
  }
}
