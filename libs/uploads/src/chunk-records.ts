/**
 * A chunk's record in PostgreSQL: the short transaction under the upload's advisory lock, the
 * overlap check against stored ranges, the received-bytes count that completes an upload, and the
 * upload's state as the protocols answer it.
 */
import { randomUUID } from 'node:crypto';
import { KilnError } from '@kiln/contracts';
import type { Prisma, PrismaClient, Upload, UploadChunk } from '@kiln/database';
import { firstMissingByte, mergeRanges, type ByteRange } from './byte-ranges';
import type { ChunkRange } from './content-range';

export interface ChunkResult {
  upload: Upload;
  /** Whether this chunk's bytes were new (false: an identical re-send). */
  stored: boolean;
  /** Every byte is present now (assembly queued or done). */
  complete: boolean;
  received: [number, number][];
  receivedBytes: number;
  offset: number;
}

export type Tx = Prisma.TransactionClient;

/** A chunk object already written to storage, waiting to be recorded (`recordChunks`). */
export interface StoredChunk {
  start: number;
  /** Inclusive. */
  end: number;
  /** Null for a piece stored as a part of the upload's multipart upload (`partNumber`). */
  objectKey: string | null;
  etag?: string;
  sha256?: string;
  partNumber?: number;
}

/** A stored piece recordChunks takes: a chunk object, or a part of the upload's multipart upload (direct uploads). */
export type RecordedPiece = Omit<StoredChunk, 'objectKey'> & { objectKey: string | null; partNumber?: number };

/** How long recording a chunk may wait for a database connection, and run. */
const RECORD_TX_WAIT_MS = 15_000;

/**
 * The short transaction that records a chunk under the upload's advisory lock. Chunks of one
 * upload queue on that lock, so a burst (50 chunks finishing at once) waits longer than Prisma's
 * default 2 s for a connection; past this wait the answer is 503 with Retry-After, not a 500.
 */
export function recording<T>(prisma: PrismaClient, work: (tx: Tx) => Promise<T>): Promise<T> {
  return prisma.$transaction(work, { maxWait: RECORD_TX_WAIT_MS, timeout: RECORD_TX_WAIT_MS });
}

/** Inside `recording`: takes the upload's advisory lock and reads the upload as it is now. */
export async function lockedUpload(tx: Tx, uploadId: string): Promise<Upload> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`upload:${uploadId}`}, 0))`;
  const current = await tx.upload.findUnique({ where: { id: uploadId } });
  if (!current) throw new KilnError('not_found', 'The upload no longer exists.');
  return current;
}

/** The merged received ranges kept on the upload's row (`received`, jsonb [[start, end], …]). */
export function receivedOf(upload: Pick<Upload, 'received'>): [number, number][] {
  const value = upload.received;
  if (!Array.isArray(value)) return [];
  const out: [number, number][] = [];
  for (const r of value) if (Array.isArray(r) && r.length === 2) out.push([Number(r[0]), Number(r[1])]);
  return out;
}

/** Whether `range` shares a byte with one of the merged received ranges. */
export function touchesReceived(received: readonly [number, number][], range: ByteRange): boolean {
  return received.some(([s, e]) => s <= range.end && e >= range.start);
}

/**
 * Counts new bytes and ranges; the ones that complete the file mark it complete and its input
 * assembling. With `chunk`, its row is inserted by the same statement that updates the upload.
 * Returns the upload as it is now, and whether this completed it.
 */
export async function addReceived(
  tx: Tx,
  current: Upload,
  ranges: readonly ByteRange[],
  chunk?: ChunkRow,
): Promise<{ completed: boolean; upload: Upload }> {
  const bytes = ranges.reduce((n, r) => n + BigInt(r.end - r.start + 1), 0n);
  const receivedBytes = (current.receivedBytes ?? 0n) + bytes;
  const received = mergeRanges([...receivedOf(current).map(([start, end]) => ({ start, end })), ...ranges]);
  const completed = !current.lengthDeferred && receivedBytes === current.size;
  const status = completed ? 'complete' : current.status;
  const json = JSON.stringify(received);
  if (chunk) {
    await tx.$executeRaw`WITH chunk AS (
        INSERT INTO upload_chunks (id, upload_id, start, "end", sha256, etag, object_key, part_number)
        VALUES (${randomUUID()}::uuid, ${current.id}::uuid, ${BigInt(chunk.start)}, ${BigInt(chunk.end)},
                ${chunk.sha256}, ${chunk.etag}, ${chunk.objectKey}, ${chunk.partNumber ?? null}::int)
      )
      UPDATE uploads SET received_bytes = ${receivedBytes}, received = ${json}::jsonb, status = ${status}
      WHERE id = ${current.id}::uuid`;
  } else {
    await tx.$executeRaw`UPDATE uploads SET received_bytes = ${receivedBytes}, received = ${json}::jsonb, status = ${status}
      WHERE id = ${current.id}::uuid`;
  }
  if (completed && current.inputId) {
    await tx.input.updateMany({
      where: { id: current.inputId, status: { in: ['pending', 'uploading'] } },
      data: { status: 'assembling' },
    });
  }
  return { completed, upload: { ...current, receivedBytes, received, status } };
}

/** The stored chunks of an upload that share a byte with `range`. */
export function overlaps(db: Tx | PrismaClient, uploadId: string, range: ByteRange): Promise<UploadChunk[]> {
  return db.uploadChunk.findMany({
    where: { uploadId, start: { lte: BigInt(range.end) }, end: { gte: BigInt(range.start) } },
  });
}

/**
 * The stored chunks sharing a byte with `range`, read only when the upload's merged received
 * ranges say there is one (new bytes, the usual case, cost no query).
 */
export async function overlapsOf(db: Tx | PrismaClient, upload: Upload, range: ByteRange): Promise<UploadChunk[]> {
  return touchesReceived(receivedOf(upload), range) ? overlaps(db, upload.id, range) : [];
}

export function overlapError(range: ByteRange, stored: readonly Pick<UploadChunk, 'start' | 'end'>[]): KilnError {
  const ranges = stored.map((c) => `${c.start}-${c.end}`).join(', ');
  return new KilnError(
    'conflict',
    `Bytes ${range.start}-${range.end} partly overlap stored range(s) ${ranges}; send exactly a stored range again or a range that does not overlap.`,
    [{ field: 'Content-Range', message: `overlaps ${ranges}` }],
  );
}

/** The answer for an upload as read (its merged received ranges and the offset a client resumes from). */
export function stateOf(upload: Upload, stored: boolean): ChunkResult {
  const received = receivedOf(upload);
  const size = Number(upload.size);
  const ranges = received.map(([start, end]) => ({ start, end }));
  return {
    upload,
    stored,
    complete: upload.status === 'complete',
    received,
    receivedBytes: Number(upload.receivedBytes),
    offset: upload.status === 'complete' ? size : firstMissingByte(ranges, size),
  };
}

/** The upload with its received ranges merged and the offset a client resumes from (one query). */
export async function uploadState(prisma: PrismaClient, uploadId: string, stored: boolean): Promise<ChunkResult> {
  return stateOf(await prisma.upload.findUniqueOrThrow({ where: { id: uploadId } }), stored);
}

/** A chunk's row as `recordChunk` inserts it. */
interface ChunkRow {
  start: number;
  end: number;
  sha256: string | null;
  etag: string | null;
  objectKey: string | null;
  partNumber?: number;
}

/**
 * Records one stored piece of an upload (a chunk object, or a multipart part) in the transaction
 * that holds the upload's lock: refused when it overlaps what is stored (`existing`, see
 * `overlapsOf`) or the upload takes no more bytes. One statement inserts the row and updates the
 * upload's counts and ranges. Returns the upload as it is now and whether this completed it.
 */
export async function recordChunk(
  tx: Tx,
  current: Upload,
  range: ChunkRange,
  existing: readonly Pick<UploadChunk, 'start' | 'end'>[],
  stored: { sha256: string | null; etag: string | null; objectKey: string | null; partNumber?: number },
): Promise<{ completed: boolean; upload: Upload }> {
  if (existing.length) throw overlapError(range, existing);
  if (current.status !== 'uploading') {
    throw new KilnError('conflict', `The upload is ${current.status} and takes no new bytes.`);
  }
  return addReceived(tx, current, [range], { start: range.start, end: range.end, ...stored });
}
