import type { Readable } from 'node:stream';

import { KilnError } from '@kiln/contracts';

export interface ObjectInfo {
  key: string;
  size: number;
  etag?: string;
  lastModified?: Date;
}

export interface PutOptions {
  /** Exact byte count when known (Content-Length, Content-Range): one streamed PUT, nothing buffered. */
  size?: number;
  contentType?: string;
  /** Abort and throw KilnError('payload_too_large') once more than this many bytes arrive. */
  maxBytes?: number;
  /**
   * 'sha256' (default): hash the bytes as they pass. 'none': skip it (the hot path of chunk
   * uploads, which compare re-sent chunks by the server's ETag instead).
   */
  checksum?: 'sha256' | 'none';
  /** Also keep the first this many bytes as they pass (`PutResult.head`): a file's kind from its head, with no read back. */
  keepHead?: number;
}

export interface PutResult {
  key: string;
  size: number;
  /** Hex SHA-256 of the bytes written, computed as they pass (absent with checksum 'none'). */
  sha256?: string;
  /**
   * The server's ETag, unquoted. For a put of known size up to 5 GiB it is the hex MD5 of the bytes
   * (S3 single PUT without KMS encryption); for multipart writes it is S3's "md5-of-parts-N" form.
   */
  etag?: string;
  /** The body's first `PutOptions.keepHead` bytes (fewer when it is shorter), when asked for. */
  head?: Buffer;
}

export type HashedPutResult = PutResult & { sha256: string };

export interface PresignOptions {
  /** Suggested download file name (Content-Disposition). */
  filename?: string;
  contentType?: string;
}

/**
 * The object storage port. Bytes always flow as streams; an implementation holds at most a bounded
 * part of an object in memory. Keys follow shared/design/ARCHITECTURE.md (chunks/, inputs/, outputs/).
 */
export interface ObjectStore {
  /** Creates the bucket when missing. */
  ensureBucket(): Promise<void>;
  /** Cheap reachability check for readiness probes. */
  ping(): Promise<void>;
  put(key: string, body: Readable, options?: PutOptions & { checksum?: 'sha256' }): Promise<HashedPutResult>;
  put(key: string, body: Readable, options: PutOptions): Promise<PutResult>;
  get(key: string): Promise<Readable>;
  /** null when the object does not exist. */
  stat(key: string): Promise<ObjectInfo | null>;
  /** Removing a missing object is not an error. */
  remove(key: string): Promise<void>;
  /** Removes every object under a prefix; returns how many. */
  removePrefix(prefix: string): Promise<number>;
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /**
   * Server-side concatenation of whole objects into `target` (S3 UploadPartCopy). Every source but
   * the last must be at least 5 MiB (S3 multipart rule); the caller checks, the adapter refuses otherwise.
   */
  compose(target: string, sources: string[]): Promise<ObjectInfo>;
  /** A time-limited download URL a client can GET without credentials. */
  presignGet(key: string, expirySeconds: number, options?: PresignOptions): Promise<string>;
  /**
   * A time-limited URL a client PUTs part `partNumber` of a multipart upload to (direct uploads),
   * signed for the public endpoint with `content-length` among the signed headers: S3 refuses a body
   * of any other length than `size` (403 SignatureDoesNotMatch, nothing stored).
   */
  presignPart(key: string, uploadId: string, partNumber: number, size: number, expirySeconds: number): Promise<string>;
  /**
   * A browser-style POST form (policy) that stores exactly `key` with exactly `size` bytes
   * (content-length-range [size, size]), the content type fixed when given; the file goes last as `file`.
   */
  presignPost(key: string, options: PresignPostOptions): Promise<PresignedPost>;
  /** Puts the bucket's CORS rule: these origins may GET, PUT, POST and HEAD with any header; ETag exposed. */
  putBucketCors(origins: string[]): Promise<void>;
  /**
   * Aborts multipart uploads started before `olderThan` and never completed; returns how many.
   * `keep` is asked about each such upload (only those); the ones it answers true for are left alone
   * (long-lived upload sessions own multipart uploads that may be days old).
   */
  abortStaleUploads(
    olderThan: Date,
    keep?: (upload: MultipartUploadRef) => boolean | Promise<boolean>,
  ): Promise<number>;

  // --- multipart uploads driven by the caller ------------------------------------------------------
  //
  // For objects assembled from parts the caller sends one by one (resumable upload sessions):
  // completing is a metadata operation, no byte is copied. The rules, written so that code that
  // keeps them works on every server we run on (MinIO in production, Ceph radosgw in the tests):
  // - part numbers 1..10,000; every part 5 MiB..5 GiB except the last one listed;
  // - completion lists EXACTLY the parts uploaded (gaps in the numbering are fine). AWS and MinIO
  //   drop unlisted parts, radosgw refuses the completion (InvalidPart → conflict), and so does the
  //   in-memory store. A part cannot be taken back: send its number again with other bytes, or
  //   abort the whole upload;
  // - a completed or aborted upload id is gone: putPart → not_found. Completing it again differs
  //   (S3's NoSuchUpload → not_found; radosgw answers success when the list is the one that built
  //   the current object): after not_found, stat the key to learn whether the object exists.

  /** Starts a multipart upload that will become `key`; returns the S3 upload id. */
  createMultipart(key: string, options?: { contentType?: string }): Promise<string>;
  /**
   * Uploads part `partNumber` (1..10000) of exactly `size` bytes from a stream (streamed, nothing
   * buffered whole: a presigned PUT with partNumber and uploadId, like put() of a known size). Returns
   * the part's ETag unquoted (the hex MD5 of its bytes on S3 without KMS). A body shorter or longer
   * than `size` rejects (KilnError invalid_input, like put) and stores nothing for that part number (a
   * part sent before under it stays). More than `maxBytes` → payload_too_large. An unknown (or
   * completed, or aborted) upload id → KilnError('not_found'). Sending the same part number again
   * replaces that part (S3 semantics). On failure `body` is left paused and undestroyed, like put.
   */
  putPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Readable,
    size: number,
    options?: { maxBytes?: number },
  ): Promise<{ etag: string; size: number }>;
  /**
   * Completes the upload with these parts (ascending part numbers, gaps allowed; ETags quoted or
   * not). Every part but the last must be ≥ 5 MiB (S3 EntityTooSmall → KilnError('unprocessable')). A
   * listed ETag that does not match the stored part, or a part that was never uploaded, or an uploaded
   * part left out (S3 InvalidPart) → KilnError('conflict'). Unknown or aborted upload id →
   * KilnError('not_found'). An empty or unordered list → invalid_input. After a conflict or
   * unprocessable the upload stays open: fix the parts and complete again, or abort.
   */
  completeMultipart(key: string, uploadId: string, parts: MultipartPart[]): Promise<ObjectInfo>;
  /** Aborts the upload and drops its parts; an unknown or already finished upload id is not an error. */
  abortMultipart(key: string, uploadId: string): Promise<void>;
  /**
   * The parts uploaded so far, ascending by part number, with their ETags (unquoted) and sizes.
   * Unknown, aborted or completed upload id → KilnError('not_found').
   */
  listParts(key: string, uploadId: string): Promise<(MultipartPart & { size: number })[]>;
  /**
   * Bytes start..end (inclusive) of an object, streamed (S3 ranged GET). An `end` past the object's
   * last byte is cut to it (S3 semantics); a `start` past it → KilnError('range_not_satisfiable').
   * Missing object → KilnError('not_found'); start > end or negative → invalid_input.
   */
  getRange(key: string, start: number, end: number): Promise<Readable>;
}

export interface PresignPostOptions {
  size: number;
  contentType?: string;
  expirySeconds: number;
}

export interface PresignedPost {
  url: string;
  /** Form fields to send before the file (which goes last, as `file`). */
  fields: Record<string, string>;
  /** Epoch seconds. */
  expiresAt: number;
}

/** A multipart upload in progress, as abortStaleUploads shows it to `keep`. */
export interface MultipartUploadRef {
  key: string;
  uploadId: string;
}

export interface MultipartPart {
  partNumber: number;
  etag: string;
}

export const OBJECT_STORE = Symbol('ObjectStore');

/** S3 multipart limits. */
export const S3_MIN_PART_SIZE = 5 * 1024 * 1024;
export const S3_MAX_PARTS = 10_000;

// Argument checks shared by every implementation (S3 servers differ here: radosgw 16 stores part
// numbers 0 and 10,001 and accepts an unordered completion list that AWS and MinIO refuse).

export function checkPartNumber(partNumber: number): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > S3_MAX_PARTS) {
    throw new KilnError(
      'invalid_input',
      `part number must be an integer from 1 to ${S3_MAX_PARTS} (got ${partNumber})`,
    );
  }
}

/** An empty upload id would turn an UploadPart into a plain PUT of the whole object. */
export function checkUploadId(uploadId: string): void {
  if (typeof uploadId !== 'string' || !uploadId) throw new KilnError('invalid_input', 'empty multipart upload id');
}

export function checkPartList(parts: MultipartPart[]): void {
  if (!parts.length) throw new KilnError('invalid_input', 'completing a multipart upload needs at least one part');
  parts.forEach(({ partNumber, etag }, i) => {
    checkPartNumber(partNumber);
    if (i > 0 && partNumber <= parts[i - 1].partNumber) {
      throw new KilnError('invalid_input', 'parts must be listed in ascending part number order, each once');
    }
    if (typeof etag !== 'string' || !etag.replace(/"/g, '')) {
      throw new KilnError('invalid_input', `part ${partNumber} has no ETag`);
    }
  });
}

export function checkByteRange(start: number, end: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new KilnError('invalid_input', `invalid byte range ${start}-${end}`);
  }
}
