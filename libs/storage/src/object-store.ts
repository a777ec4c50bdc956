import type { Readable } from 'node:stream';

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
  /** Aborts multipart uploads started before `olderThan` and never completed; returns how many. */
  abortStaleUploads(olderThan: Date): Promise<number>;
}

export const OBJECT_STORE = Symbol('ObjectStore');

/** S3 multipart limits. */
export const S3_MIN_PART_SIZE = 5 * 1024 * 1024;
export const S3_MAX_PARTS = 10_000;
