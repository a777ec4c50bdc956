import type { Readable } from 'node:stream';

import { KilnError } from '@kiln/contracts';
import type { BucketItem, Client } from 'minio';

import { BodyMeter, tooLarge } from './body-meter';
import { MultipartWriter } from './multipart-writer';
import {
  S3_MAX_PARTS,
  S3_MIN_PART_SIZE,
  checkByteRange,
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
} from './object-store';
import { S3Bucket, minioClient } from './s3-bucket';
import { composeObjects } from './s3-compose';
import { DirectSigner } from './s3-direct';
import { errorCode, isNotFound } from './s3-errors';
import { MiB, S3_MAX_OBJECT_SIZE, S3_MAX_SINGLE_PUT } from './s3-limits';
import { putInParts, putStreamed } from './stream-put';
import { contentDisposition } from './wire-encoding';

/** DeleteObjects takes at most this many keys per call. */
const DELETE_BATCH = 1000;

export interface MinioObjectStoreOptions {
  /** S3 endpoint as a URL, e.g. http://127.0.0.1:7480 (no path). */
  endpoint: string;
  /** Endpoint clients use for presigned downloads (another host name, a proxy); defaults to `endpoint`. */
  publicEndpoint?: string;
  /**
   * Endpoint clients send direct uploads to (presigned parts and POST forms; KILN_S3_PUBLIC_URL);
   * defaults to `publicEndpoint`, then `endpoint`.
   */
  directEndpoint?: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** Always set so that presigning never looks the region up over the network. Default us-east-1. */
  region?: string;
  /**
   * Part size for uploads of unknown size (default 16 MiB, at least 5 MiB). Such an upload can be at most
   * partSize × 10,000 bytes (156 GiB at 16 MiB); more fails with payload_too_large. Known sizes over
   * 5 GiB use max(partSize, size / 10,000).
   */
  partSize?: number;
  /**
   * Part buffers held in memory at once, the one being filled included (default 4): memory per upload
   * stays under partsInFlight × partSize. Also the number of parallel UploadPartCopy calls in compose.
   */
  partsInFlight?: number;
  /** A request idle (no byte either way) this long is aborted. Default 120 s. */
  idleTimeoutMs?: number;
  /**
   * Largest piece copied by one UploadPartCopy in compose (default and S3 maximum: 5 GiB, at least
   * 10 MiB); bigger sources are copied as several even byte ranges. Tests lower it to exercise them.
   */
  maxCopyPartSize?: number;
}

/**
 * ObjectStore on an S3 server (MinIO in production, Ceph radosgw in tests) with minio-js for signing
 * and control calls. Object bytes never go through minio-js's putObject (it buffers small streams
 * whole): see stream-put.ts. Its parts: s3-bucket.ts (the shared client and bucket), stream-put.ts
 * (put), multipart-writer.ts (caller-driven multipart uploads), s3-compose.ts (compose), s3-http.ts
 * (raw requests) and s3-errors.ts (the S3 error parser and error classes).
 */
export class MinioObjectStore implements ObjectStore {
  private readonly bucket: S3Bucket;
  private readonly client: Client;
  /** Signs download URLs for the public host; same keys as `client`. */
  private readonly signer: Client;
  private readonly multipart: MultipartWriter;
  private readonly direct: DirectSigner;
  private readonly region: string;
  private readonly partSize: number;
  private readonly partsInFlight: number;
  private readonly maxCopyPartSize: number;

  constructor(options: MinioObjectStoreOptions) {
    const region = options.region ?? 'us-east-1';
    this.client = minioClient(options.endpoint, options, region);
    this.signer = options.publicEndpoint ? minioClient(options.publicEndpoint, options, region) : this.client;
    this.bucket = new S3Bucket(this.client, options.bucket, options.idleTimeoutMs ?? 120_000);
    const directEndpoint = options.directEndpoint ?? options.publicEndpoint ?? options.endpoint;
    this.direct = new DirectSigner(
      { ...options, region, publicEndpoint: directEndpoint },
      directEndpoint === options.endpoint ? this.client : minioClient(directEndpoint, options, region),
    );
    this.multipart = new MultipartWriter(this.bucket);
    this.region = region;
    this.partSize = options.partSize ?? 16 * MiB;
    this.partsInFlight = options.partsInFlight ?? 4;
    this.maxCopyPartSize = options.maxCopyPartSize ?? S3_MAX_SINGLE_PUT;
    if (!Number.isInteger(this.partSize) || this.partSize < S3_MIN_PART_SIZE || this.partSize > S3_MAX_SINGLE_PUT) {
      throw new RangeError(`partSize must be an integer between 5 MiB and 5 GiB (got ${this.partSize})`);
    }
    if (!Number.isInteger(this.partsInFlight) || this.partsInFlight < 1) {
      throw new RangeError(`partsInFlight must be a positive integer (got ${this.partsInFlight})`);
    }
    // Sources are split evenly, so pieces are at least half of this: keep them above S3's 5 MiB.
    if (this.maxCopyPartSize < 2 * S3_MIN_PART_SIZE || this.maxCopyPartSize > S3_MAX_SINGLE_PUT) {
      throw new RangeError('maxCopyPartSize must be between 10 MiB and 5 GiB');
    }
  }

  async ensureBucket(): Promise<void> {
    if (await this.client.bucketExists(this.bucket.name)) return;
    try {
      await this.client.makeBucket(this.bucket.name, this.region);
    } catch (err: unknown) {
      // Another process may have created it in between.
      if (!(await this.client.bucketExists(this.bucket.name))) throw err;
    }
  }

  async ping(): Promise<void> {
    if (!(await this.client.bucketExists(this.bucket.name))) {
      throw new KilnError('unavailable', `bucket ${this.bucket.name} does not exist`);
    }
  }

  /**
   * Writes `body` to `key`. On failure nothing is written (an older object under `key` stays as it
   * was) and `body` is left paused and unpiped, not destroyed: the caller owns it (an HTTP handler may
   * still want to answer 413 on that connection).
   */
  put(key: string, body: Readable, options?: PutOptions & { checksum?: 'sha256' }): Promise<HashedPutResult>;
  put(key: string, body: Readable, options: PutOptions): Promise<PutResult>;
  async put(key: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    const { size, maxBytes, contentType } = options;
    if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) {
      throw new KilnError('invalid_input', `invalid size ${size}`);
    }
    if (size !== undefined && maxBytes !== undefined && size > maxBytes) {
      throw tooLarge(key, maxBytes);
    }
    if (size !== undefined && size > S3_MAX_OBJECT_SIZE) {
      throw new KilnError('payload_too_large', `${size} bytes exceed the S3 object limit of 5 TiB`);
    }
    const meter = new BodyMeter(key, size, maxBytes, options.checksum !== 'none', options.keepHead);
    let result: PutResult;
    if (size !== undefined && size <= S3_MAX_SINGLE_PUT) {
      result = await putStreamed(this.bucket, key, body, size, contentType, meter);
    } else {
      // Unknown size, or known and over 5 GiB: S3's part rule is parts ≥ 5 MiB, ≤ 10,000 of them.
      const partSize =
        size === undefined ? this.partSize : Math.max(this.partSize, Math.ceil(size / S3_MAX_PARTS / MiB) * MiB);
      const parts = { partSize, partsInFlight: this.partsInFlight, contentType };
      result = await putInParts(this.bucket, key, body, parts, meter);
    }
    const head = meter.head();
    return head ? { ...result, head } : result;
  }

  async get(key: string): Promise<Readable> {
    try {
      return await this.client.getObject(this.bucket.name, key);
    } catch (err: unknown) {
      if (isNotFound(err)) throw new KilnError('not_found', `object ${key} not found`);
      throw err;
    }
  }

  stat(key: string): Promise<ObjectInfo | null> {
    return this.bucket.stat(key);
  }

  async remove(key: string): Promise<void> {
    // S3 DeleteObject of a missing key answers 204 as well.
    await this.client.removeObject(this.bucket.name, key);
  }

  async removePrefix(prefix: string): Promise<number> {
    if (!prefix) throw new Error('removePrefix needs a non-empty prefix (refusing to empty the bucket)');
    let removed = 0;
    let batch: string[] = [];
    const flush = async (): Promise<void> => {
      if (!batch.length) return;
      const keys = batch;
      batch = [];
      const failures = (await this.client.removeObjects(this.bucket.name, keys)) as unknown[];
      const errors = failures.filter(isDeleteError);
      if (errors.length) {
        const first = errors[0];
        throw new Error(`removing ${errors.length} of ${keys.length} objects failed (${first.Key}: ${first.Code})`);
      }
      removed += keys.length;
    };
    for await (const item of this.list(prefix)) {
      batch.push(item.key);
      if (batch.length === DELETE_BATCH) await flush();
    }
    await flush();
    return removed;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const stream = this.client.listObjectsV2(this.bucket.name, prefix, true) as unknown as AsyncIterable<BucketItem>;
    for await (const item of stream) {
      if (item.name === undefined) continue; // a common prefix; not produced by a recursive listing
      yield { key: item.name, size: item.size, etag: item.etag, lastModified: item.lastModified };
    }
  }

  /** Server-side concatenation of whole objects: see composeObjects (s3-compose.ts) for how and why. */
  compose(target: string, sources: string[]): Promise<ObjectInfo> {
    return composeObjects(this.bucket, target, sources, {
      partsInFlight: this.partsInFlight,
      maxCopyPartSize: this.maxCopyPartSize,
    });
  }

  async presignGet(key: string, expirySeconds: number, options: PresignOptions = {}): Promise<string> {
    const params: Record<string, string> = {};
    if (options.filename) params['response-content-disposition'] = contentDisposition(options.filename);
    if (options.contentType) params['response-content-type'] = options.contentType;
    return this.signer.presignedUrl('GET', this.bucket.name, key, expirySeconds, params);
  }

  presignPart(key: string, uploadId: string, partNumber: number, size: number, expirySeconds: number): Promise<string> {
    return this.direct.presignPart(key, uploadId, partNumber, size, expirySeconds);
  }

  presignPost(key: string, options: PresignPostOptions): Promise<PresignedPost> {
    return this.direct.presignPost(key, options);
  }

  putBucketCors(origins: string[]): Promise<void> {
    return this.direct.putBucketCors(origins);
  }

  async abortStaleUploads(
    olderThan: Date,
    keep?: (upload: MultipartUploadRef) => boolean | Promise<boolean>,
  ): Promise<number> {
    let aborted = 0;
    let keyMarker = '';
    let uploadIdMarker = '';
    for (;;) {
      const page = await this.client.listIncompleteUploadsQuery(this.bucket.name, '', keyMarker, uploadIdMarker, '');
      for (const upload of page.uploads) {
        if (upload.initiated.getTime() >= olderThan.getTime()) continue;
        if (keep && (await keep({ key: upload.key, uploadId: upload.uploadId }))) continue;
        try {
          await this.client.abortMultipartUpload(this.bucket.name, upload.key, upload.uploadId);
          aborted += 1;
        } catch (err: unknown) {
          if (errorCode(err) !== 'NoSuchUpload') throw err; // completed or aborted meanwhile
        }
      }
      if (!page.isTruncated || !page.uploads.length) return aborted;
      // minio-js drops NextUploadIdMarker (reads a misspelt field), so continue after the last entry.
      const last = page.uploads[page.uploads.length - 1];
      keyMarker = last.key;
      uploadIdMarker = last.uploadId;
    }
  }

  // --- multipart uploads driven by the caller: multipart-writer.ts ----------------------------------

  createMultipart(key: string, options: { contentType?: string } = {}): Promise<string> {
    return this.multipart.create(key, options);
  }

  putPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Readable,
    size: number,
    options: { maxBytes?: number } = {},
  ): Promise<{ etag: string; size: number }> {
    return this.multipart.putPart(key, uploadId, partNumber, body, size, options);
  }

  completeMultipart(key: string, uploadId: string, parts: MultipartPart[]): Promise<ObjectInfo> {
    return this.multipart.complete(key, uploadId, parts);
  }

  listParts(key: string, uploadId: string): Promise<(MultipartPart & { size: number })[]> {
    return this.multipart.listParts(key, uploadId);
  }

  abortMultipart(key: string, uploadId: string): Promise<void> {
    return this.multipart.abort(key, uploadId);
  }

  async getRange(key: string, start: number, end: number): Promise<Readable> {
    checkByteRange(start, end);
    try {
      return await this.client.getPartialObject(this.bucket.name, key, start, end - start + 1);
    } catch (err: unknown) {
      if (isNotFound(err)) throw new KilnError('not_found', `object ${key} not found`);
      if (errorCode(err) === 'InvalidRange') {
        throw new KilnError('range_not_satisfiable', `bytes ${start}-${end} are not within ${key}`);
      }
      throw err;
    }
  }
}

interface DeleteError {
  Key: string;
  Code: string;
}

function isDeleteError(item: unknown): item is DeleteError {
  return typeof item === 'object' && item !== null && 'Code' in item;
}
