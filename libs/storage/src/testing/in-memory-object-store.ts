import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';

import { KilnError } from '@kiln/contracts';

import {
  S3_MIN_PART_SIZE,
  checkByteRange,
  checkPartList,
  checkPartNumber,
  checkUploadId,
  type MultipartPart,
  type MultipartUploadRef,
  type ObjectInfo,
  type ObjectStore,
  type PresignOptions,
  type PresignPostOptions,
  type PresignedPost,
  type PutOptions,
  type PutResult,
  type HashedPutResult,
} from '../object-store';

interface StoredObject {
  data: Buffer;
  etag: string;
  lastModified: Date;
  contentType?: string;
}

interface Upload {
  key: string;
  initiated: Date;
  contentType?: string;
  parts: Map<number, { data: Buffer; etag: string }>;
}

const MAX_PART_SIZE = 5 * 1024 ** 3;

/**
 * ObjectStore in memory for unit tests of code that uses storage. It keeps the port's rules (checked by
 * the same contract suite as the S3 adapter): size mismatch and maxBytes fail and write nothing, a body
 * is never destroyed by a failed put, compose refuses sources under 5 MiB but the last, presignGet
 * returns a memory:// URL. Multipart uploads keep their parts per upload id and follow the S3 rules as
 * radosgw applies them (the strictest of our servers): ETag = hex MD5 of a part, InvalidPart for a
 * wrong ETag or a parts list that is not exactly the uploaded parts, EntityTooSmall, NoSuchUpload.
 * Everything is held in memory, so keep test objects small.
 */
export class InMemoryObjectStore implements ObjectStore {
  private readonly objects = new Map<string, StoredObject>();
  private readonly uploads = new Map<string, Upload>();
  /** Set to false to make ping() fail (a storage outage as the readiness probe sees it). */
  available = true;

  constructor(readonly bucket = 'kiln') {}

  async ensureBucket(): Promise<void> {}

  async ping(): Promise<void> {
    if (!this.available) throw new KilnError('unavailable', 'object storage unavailable');
  }

  put(key: string, body: Readable, options?: PutOptions & { checksum?: 'sha256' }): Promise<HashedPutResult>;
  put(key: string, body: Readable, options: PutOptions): Promise<PutResult>;
  async put(key: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    const { size, maxBytes } = options;
    if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) {
      throw new KilnError('invalid_input', `invalid size ${size}`);
    }
    if (size !== undefined && maxBytes !== undefined && size > maxBytes) throw tooLarge(key, maxBytes);
    const data = await readBody(key, body, size, maxBytes);
    this.store(key, data, options.contentType);
    const etag = md5(data);
    const head = options.keepHead ? { head: Buffer.from(data.subarray(0, options.keepHead)) } : {};
    if (options.checksum === 'none') return { key, size: data.length, etag, ...head };
    return { key, size: data.length, sha256: createHash('sha256').update(data).digest('hex'), etag, ...head };
  }

  async get(key: string): Promise<Readable> {
    const object = this.objects.get(key);
    if (!object) throw new KilnError('not_found', `object ${key} not found`);
    return Readable.from([Buffer.from(object.data)]);
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    const object = this.objects.get(key);
    return object ? info(key, object) : null;
  }

  async remove(key: string): Promise<void> {
    this.objects.delete(key);
  }

  async removePrefix(prefix: string): Promise<number> {
    if (!prefix) throw new Error('removePrefix needs a non-empty prefix (refusing to empty the bucket)');
    let removed = 0;
    for (const key of [...this.objects.keys()]) {
      if (key.startsWith(prefix)) {
        this.objects.delete(key);
        removed += 1;
      }
    }
    return removed;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    // S3 lists in UTF-8 byte order.
    const keys = [...this.objects.keys()]
      .filter((key) => key.startsWith(prefix))
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const key of keys) {
      const object = this.objects.get(key);
      if (object) yield info(key, object);
    }
  }

  async compose(target: string, sources: string[]): Promise<ObjectInfo> {
    if (!sources.length) throw new KilnError('invalid_input', 'compose needs at least one source');
    const parts = sources.map((key) => {
      const object = this.objects.get(key);
      if (!object) throw new KilnError('not_found', `compose source ${key} not found`);
      return object;
    });
    parts.forEach((part, i) => {
      if (i < parts.length - 1 && part.data.length < S3_MIN_PART_SIZE) {
        throw new KilnError(
          'unprocessable',
          `compose source ${sources[i]} has ${part.data.length} bytes; every source but the last needs at least 5 MiB`,
        );
      }
    });
    const stored = this.store(target, Buffer.concat(parts.map((p) => p.data)), parts[0].contentType);
    return info(target, stored);
  }

  /** The CORS origins last put (putBucketCors). */
  corsOrigins: string[] | undefined;

  async presignPart(
    key: string,
    uploadId: string,
    partNumber: number,
    size: number,
    expirySeconds: number,
  ): Promise<string> {
    checkUploadId(uploadId);
    checkPartNumber(partNumber);
    if (!this.uploads.has(uploadId)) throw new KilnError('not_found', `multipart upload ${uploadId} not found`);
    const url = new URL(`memory://${this.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`);
    url.searchParams.set('uploadId', uploadId);
    url.searchParams.set('partNumber', String(partNumber));
    url.searchParams.set('content-length', String(size));
    url.searchParams.set('expires', new Date(Date.now() + expirySeconds * 1000).toISOString());
    return url.toString();
  }

  async presignPost(key: string, options: PresignPostOptions): Promise<PresignedPost> {
    const expiresAt = Math.floor(Date.now() / 1000) + options.expirySeconds;
    return {
      url: `memory://${this.bucket}`,
      fields: {
        key,
        ...(options.contentType ? { 'Content-Type': options.contentType } : {}),
        policy: JSON.stringify({ size: options.size, expiresAt }),
      },
      expiresAt,
    };
  }

  async putBucketCors(origins: string[]): Promise<void> {
    this.corsOrigins = [...origins];
  }

  async presignGet(key: string, expirySeconds: number, options: PresignOptions = {}): Promise<string> {
    if (!Number.isInteger(expirySeconds) || expirySeconds < 1 || expirySeconds > 604_800) {
      throw new RangeError('expirySeconds must be between 1 and 604800');
    }
    const url = new URL(`memory://${this.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`);
    url.searchParams.set('expires', new Date(Date.now() + expirySeconds * 1000).toISOString());
    if (options.filename) url.searchParams.set('filename', options.filename);
    if (options.contentType) url.searchParams.set('content-type', options.contentType);
    return url.toString();
  }

  async abortStaleUploads(
    olderThan: Date,
    keep?: (upload: MultipartUploadRef) => boolean | Promise<boolean>,
  ): Promise<number> {
    let aborted = 0;
    for (const [uploadId, upload] of [...this.uploads]) {
      if (upload.initiated.getTime() >= olderThan.getTime()) continue;
      if (keep && (await keep({ key: upload.key, uploadId }))) continue;
      if (this.uploads.delete(uploadId)) aborted += 1;
    }
    return aborted;
  }

  async createMultipart(key: string, options: { contentType?: string } = {}): Promise<string> {
    const uploadId = randomUUID();
    this.uploads.set(uploadId, { key, initiated: new Date(), contentType: options.contentType, parts: new Map() });
    return uploadId;
  }

  async putPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Readable,
    size: number,
    options: { maxBytes?: number } = {},
  ): Promise<{ etag: string; size: number }> {
    checkPartNumber(partNumber);
    checkUploadId(uploadId);
    if (!Number.isSafeInteger(size) || size < 0) throw new KilnError('invalid_input', `invalid part size ${size}`);
    if (options.maxBytes !== undefined && size > options.maxBytes) throw tooLarge(key, options.maxBytes);
    if (size > MAX_PART_SIZE) throw new KilnError('payload_too_large', `a part holds at most 5 GiB (got ${size})`);
    this.upload(key, uploadId); // S3 servers refuse an unknown upload id without reading the body through
    const data = await readBody(key, body, size, options.maxBytes);
    // Checked again: the upload may have been completed or aborted while the body arrived.
    const upload = this.upload(key, uploadId);
    const etag = md5(data);
    upload.parts.set(partNumber, { data, etag });
    return { etag, size: data.length };
  }

  async completeMultipart(key: string, uploadId: string, parts: MultipartPart[]): Promise<ObjectInfo> {
    checkPartList(parts);
    checkUploadId(uploadId);
    const upload = this.upload(key, uploadId);
    if (parts.length !== upload.parts.size) {
      throw new KilnError(
        'conflict',
        `upload ${uploadId} has ${upload.parts.size} parts; the completion lists ${parts.length} (list every uploaded part)`,
      );
    }
    const stored = parts.map(({ partNumber, etag }) => {
      const part = upload.parts.get(partNumber);
      if (!part || part.etag !== unquote(etag)) {
        throw new KilnError('conflict', `part ${partNumber} of upload ${uploadId} was not uploaded with ETag ${etag}`);
      }
      return part;
    });
    stored.forEach((part, i) => {
      if (i < stored.length - 1 && part.data.length < S3_MIN_PART_SIZE) {
        throw new KilnError(
          'unprocessable',
          `part ${parts[i].partNumber} has ${part.data.length} bytes; every part but the last needs at least 5 MiB`,
        );
      }
    });
    this.uploads.delete(uploadId);
    const object = this.store(key, Buffer.concat(stored.map((part) => part.data)), upload.contentType);
    // Like S3: the ETag of a multipart object is the MD5 of the parts' binary MD5s, "-", part count.
    object.etag = `${createHash('md5')
      .update(Buffer.concat(stored.map((part) => Buffer.from(part.etag, 'hex'))))
      .digest('hex')}-${stored.length}`;
    return info(key, object);
  }

  async listParts(key: string, uploadId: string): Promise<(MultipartPart & { size: number })[]> {
    checkUploadId(uploadId);
    const upload = this.upload(key, uploadId);
    return [...upload.parts.entries()]
      .sort(([a], [b]) => a - b)
      .map(([partNumber, part]) => ({ partNumber, etag: part.etag, size: part.data.length }));
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    checkUploadId(uploadId);
    const upload = this.uploads.get(uploadId);
    if (upload?.key === key) this.uploads.delete(uploadId);
  }

  async getRange(key: string, start: number, end: number): Promise<Readable> {
    checkByteRange(start, end);
    const object = this.objects.get(key);
    if (!object) throw new KilnError('not_found', `object ${key} not found`);
    if (start >= object.data.length) {
      throw new KilnError(
        'range_not_satisfiable',
        `${key} has ${object.data.length} bytes; the range starts at ${start}`,
      );
    }
    return Readable.from([Buffer.from(object.data.subarray(start, end + 1))]);
  }

  // --- test helpers --------------------------------------------------------------------------------

  /** Records a multipart upload that was started and never completed (a crashed writer). */
  beginMultipartUpload(key: string, initiated = new Date()): string {
    const id = randomUUID();
    this.uploads.set(id, { key, initiated, parts: new Map() });
    return id;
  }

  /** Number of multipart uploads started and not yet completed or aborted. */
  get incompleteUploads(): number {
    return this.uploads.size;
  }

  /** The stored bytes of `key` (a copy), or undefined. */
  bytes(key: string): Buffer | undefined {
    const object = this.objects.get(key);
    return object ? Buffer.from(object.data) : undefined;
  }

  keys(): string[] {
    return [...this.objects.keys()].sort();
  }

  /** The upload `uploadId` of `key`, or not_found (S3 NoSuchUpload). */
  private upload(key: string, uploadId: string): Upload {
    const upload = this.uploads.get(uploadId);
    if (!upload || upload.key !== key) {
      throw new KilnError('not_found', `multipart upload ${uploadId} of ${key} not found`);
    }
    return upload;
  }

  private store(key: string, data: Buffer, contentType?: string): StoredObject {
    const object: StoredObject = {
      data,
      etag: md5(data),
      lastModified: new Date(),
      contentType,
    };
    this.objects.set(key, object);
    return object;
  }
}

function info(key: string, object: StoredObject): ObjectInfo {
  return { key, size: object.data.length, etag: object.etag, lastModified: object.lastModified };
}

function tooLarge(key: string, maxBytes: number): KilnError {
  return new KilnError('payload_too_large', `${key}: more than ${maxBytes} bytes`);
}

function mismatch(key: string, size: number, what: 'more' | 'fewer'): KilnError {
  return new KilnError('invalid_input', `${key}: the body has ${what} bytes than the announced ${size}`);
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

function unquote(etag: string): string {
  return etag.replace(/^"|"$/g, '');
}

/**
 * Reads a whole body (the fake keeps bytes in memory) with put's checks. Like the adapter: stops
 * reading on failure but leaves the caller's stream undestroyed.
 */
async function readBody(
  key: string,
  body: Readable,
  size: number | undefined,
  maxBytes: number | undefined,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterableIterator<unknown>) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
    received += buffer.length;
    if (maxBytes !== undefined && received > maxBytes) throw tooLarge(key, maxBytes);
    if (size !== undefined && received > size) throw mismatch(key, size, 'more');
    chunks.push(buffer);
  }
  if (size !== undefined && received !== size) throw mismatch(key, size, 'fewer');
  return Buffer.concat(chunks);
}
