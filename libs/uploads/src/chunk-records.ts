/**
 * A chunk's record in PostgreSQL: the short transaction under the upload's advisory lock, the
 * overlap check against stored ranges, the received-bytes count that completes an upload, and the
 * upload's state as the protocols answer it.
 */
import { randomUUID } from 'node:crypto';
import { KilnError } from '@kiln/contracts';
import type { Prisma, PrismaClient, Upload, UploadChunk } from '@kiln/database';
import { firstMissingByte, mergeRanges } from './byte-ranges';
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

/** Counts new bytes; the ones that complete the file mark it complete and its input assembling. */
export async function addReceived(tx: Tx, current: Upload, bytes: bigint): Promise<boolean> {
  const received = (current.receivedBytes ?? 0n) + bytes;
  const complete = !current.lengthDeferred && received === current.size;
  await tx.upload.update({
    where: { id: current.id },
    data: { receivedBytes: received, ...(complete ? { status: 'complete' } : {}) },
  });
  if (complete && current.inputId) {
    await tx.input.updateMany({
      where: { id: current.inputId, status: { in: ['pending', 'uploading'] } },
      data: { status: 'assembling' },
    });
  }
  return complete;
}

/** The stored chunks of an upload that share a byte with `range`. */
export function overlaps(db: Tx | PrismaClient, uploadId: string, range: ChunkRange): Promise<UploadChunk[]> {
  return db.uploadChunk.findMany({
    where: { uploadId, start: { lte: BigInt(range.end) }, end: { gte: BigInt(range.start) } },
  });
}

export function overlapError(range: ChunkRange, stored: UploadChunk[]): KilnError {
  const ranges = stored.map((c) => `${c.start}-${c.end}`).join(', ');
  return new KilnError(
    'conflict',
    `Bytes ${range.start}-${range.end} partly overlap stored range(s) ${ranges}; send exactly a stored range again or a range that does not overlap.`,
    [{ field: 'Content-Range', message: `overlaps ${ranges}` }],
  );
}

/** The upload with its received ranges merged and the offset a client resumes from. */
export async function uploadState(prisma: PrismaClient, uploadId: string, stored: boolean): Promise<ChunkResult> {
  const upload = await prisma.upload.findUniqueOrThrow({ where: { id: uploadId } });
  const chunks = await prisma.uploadChunk.findMany({ where: { uploadId }, select: { start: true, end: true } });
  const ranges = chunks.map((c) => ({ start: Number(c.start), end: Number(c.end) }));
  const size = Number(upload.size);
  return {
    upload,
    stored,
    complete: upload.status === 'complete',
    received: mergeRanges(ranges),
    receivedBytes: Number(upload.receivedBytes),
    offset: upload.status === 'complete' ? size : firstMissingByte(ranges, size),
  };
}

/**
 * Records one stored piece of an upload (a chunk object, or a multipart part) in the transaction
 * that holds the upload's lock: refused when it overlaps what is stored (`existing`) or the upload
 * takes no more bytes. True when it completed the file.
 */
export async function recordChunk(
  tx: Tx,
  current: Upload,
  range: ChunkRange,
  existing: UploadChunk[],
  stored: { sha256: string | null; etag: string | null; objectKey: string | null; partNumber?: number },
): Promise<boolean> {
  if (existing.length) throw overlapError(range, existing);
  if (current.status !== 'uploading') {
    throw new KilnError('conflict', `The upload is ${current.status} and takes no new bytes.`);
  }
  await tx.uploadChunk.create({
    data: { id: randomUUID(), uploadId: current.id, start: BigInt(range.start), end: BigInt(range.end), ...stored },
  });
  return addReceived(tx, current, BigInt(range.length));
}
