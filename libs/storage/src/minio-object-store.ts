import { createHash, type Hash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

import { KilnError } from '@kiln/contracts';
import { Client, type BucketItem } from 'minio';

import {
  S3_MAX_PARTS,
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
  type PutOptions,
  type PutResult,
  type HashedPutResult,
} from './object-store';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** Largest object one PUT (and one CopyObject) may write, and largest part / UploadPartCopy piece. */
const S3_MAX_SINGLE_PUT = 5 * GiB;
/** Largest object a multipart upload may assemble. */
const S3_MAX_OBJECT_SIZE = 5 * 1024 * GiB;
/** DeleteObjects takes at most this many keys per call. */
const DELETE_BATCH = 1000;
/** Presigned URLs for our own uploads: checked when the request starts, so short is fine. */
const UPLOAD_URL_SECONDS = 15 * 60;
/** Attempts for a buffered part (the bytes are in memory, so a retry is cheap). */
const PART_ATTEMPTS = 3;

export interface MinioObjectStoreOptions {
  /** S3 endpoint as a URL, e.g. http://127.0.0.1:7480 (no path). */
  endpoint: string;
  /** Endpoint clients use for presigned downloads (another host name, a proxy); defaults to `endpoint`. */
  publicEndpoint?: string;
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

/** Builds the adapter's options from S3_* variables (the caller passes its environment). */
export function minioObjectStoreOptionsFromEnv(
  env: Record<string, string | undefined>,
  bucket = env.S3_BUCKET ?? 'kiln',
): MinioObjectStoreOptions {
  const need = (name: string): string => {
    const value = env[name];
    if (!value) throw new Error(`${name} is not set`);
    return value;
  };
  return {
    endpoint: need('S3_ENDPOINT'),
    publicEndpoint: env.S3_PUBLIC_ENDPOINT || undefined,
    accessKey: need('S3_ACCESS_KEY'),
    secretKey: need('S3_SECRET_KEY'),
    region: env.S3_REGION || undefined,
    bucket,
  };
}

/** An S3 error answer (or a failed S3 request) on the raw HTTP path. */
export class S3RequestError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = 'S3RequestError';
  }
}

/**
 * ObjectStore on an S3 server (MinIO in production, Ceph radosgw in tests) with minio-js for signing
 * and control calls. Object bytes never go through minio-js's putObject (it buffers small streams
 * whole): a known size is one streamed presigned PUT; an unknown size is a multipart upload of bounded
 * part buffers, each sent with a presigned PUT.
 */
export class MinioObjectStore implements ObjectStore {
  private readonly client: Client;
  /** Signs download URLs for the public host; same keys as `client`. */
  private readonly signer: Client;
  private readonly bucket: string;
  private readonly region: string;
  private readonly partSize: number;
  private readonly partsInFlight: number;
  private readonly idleTimeoutMs: number;
  private readonly maxCopyPartSize: number;

  constructor(options: MinioObjectStoreOptions) {
    const region = options.region ?? 'us-east-1';
    this.client = minioClient(options.endpoint, options, region);
    this.signer = options.publicEndpoint ? minioClient(options.publicEndpoint, options, region) : this.client;
    this.bucket = options.bucket;
    this.region = region;
    this.partSize = options.partSize ?? 16 * MiB;
    this.partsInFlight = options.partsInFlight ?? 4;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 120_000;
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
    if (await this.client.bucketExists(this.bucket)) return;
    try {
      await this.client.makeBucket(this.bucket, this.region);
    } catch (err: unknown) {
      // Another process may have created it in between.
      if (!(await this.client.bucketExists(this.bucket))) throw err;
    }
  }

  async ping(): Promise<void> {
    if (!(await this.client.bucketExists(this.bucket))) {
      throw new KilnError('unavailable', `bucket ${this.bucket} does not exist`);
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
    const { size, maxBytes } = options;
    if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) {
      throw new KilnError('invalid_input', `invalid size ${size}`);
    }
    if (size !== undefined && maxBytes !== undefined && size > maxBytes) {
      throw tooLarge(key, maxBytes);
    }
    if (size !== undefined && size > S3_MAX_OBJECT_SIZE) {
      throw new KilnError('payload_too_large', `${size} bytes exceed the S3 object limit of 5 TiB`);
    }
    const meter = new BodyMeter(key, size, maxBytes, options.checksum !== 'none');
    if (size !== undefined && size <= S3_MAX_SINGLE_PUT) {
      return this.putStreamed(key, body, size, options.contentType, meter);
    }
    // Unknown size, or known and over 5 GiB: S3's part rule is parts ≥ 5 MiB, ≤ 10,000 of them.
    const partSize =
      size === undefined ? this.partSize : Math.max(this.partSize, Math.ceil(size / S3_MAX_PARTS / MiB) * MiB);
    return this.putMultipart(key, body, partSize, options.contentType, meter);
  }

  async get(key: string): Promise<Readable> {
    try {
      return await this.client.getObject(this.bucket, key);
    } catch (err: unknown) {
      if (isNotFound(err)) throw new KilnError('not_found', `object ${key} not found`);
      throw err;
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const stat = await this.client.statObject(this.bucket, key);
      return { key, size: stat.size, etag: stat.etag, lastModified: stat.lastModified };
    } catch (err: unknown) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async remove(key: string): Promise<void> {
    // S3 DeleteObject of a missing key answers 204 as well.
    await this.client.removeObject(this.bucket, key);
  }

  async removePrefix(prefix: string): Promise<number> {
    if (!prefix) throw new Error('removePrefix needs a non-empty prefix (refusing to empty the bucket)');
    let removed = 0;
    let batch: string[] = [];
    const flush = async (): Promise<void> => {
      if (!batch.length) return;
      const keys = batch;
      batch = [];
      const failures = (await this.client.removeObjects(this.bucket, keys)) as unknown[];
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
    const stream = this.client.listObjectsV2(this.bucket, prefix, true) as unknown as AsyncIterable<BucketItem>;
    for await (const item of stream) {
      if (item.name === undefined) continue; // a common prefix; not produced by a recursive listing
      yield { key: item.name, size: item.size, etag: item.etag, lastModified: item.lastModified };
    }
  }

  /**
   * Concatenates whole objects server-side. Not minio-js's composeObject, which (8.0.7) swallows
   * errors (resolves undefined), ignores a range's start, copies sources over ~524 MiB as several
   * pieces under one part number (silently truncated result) and sends non-ASCII keys unescaped.
   * Here: one CopyObject for a single source, else a multipart upload with one UploadPartCopy per
   * source (a source over maxCopyPartSize is copied as exact byte ranges), each pinned with
   * x-amz-copy-source-if-match to the ETag seen at the size check, so a source replaced meanwhile
   * fails the compose on MinIO and AWS (radosgw 16 ignores that header).
   */
  async compose(target: string, sources: string[]): Promise<ObjectInfo> {
    if (!sources.length) throw new KilnError('invalid_input', 'compose needs at least one source');
    const stats = await mapLimit(sources, this.partsInFlight * 2, async (key) => {
      try {
        return await this.client.statObject(this.bucket, key);
      } catch (err: unknown) {
        if (isNotFound(err)) throw new KilnError('not_found', `compose source ${key} not found`);
        throw err;
      }
    });
    let total = 0;
    stats.forEach((stat, i) => {
      if (i < sources.length - 1 && stat.size < S3_MIN_PART_SIZE) {
        throw new KilnError(
          'unprocessable',
          `compose source ${sources[i]} has ${stat.size} bytes; every source but the last needs at least 5 MiB`,
        );
      }
      total += stat.size;
    });
    if (total > S3_MAX_OBJECT_SIZE) throw new KilnError('payload_too_large', `composed size ${total} exceeds 5 TiB`);

    if (sources.length === 1 && stats[0].size <= this.maxCopyPartSize) {
      await this.client.makeRequestAsync({
        method: 'PUT',
        bucketName: this.bucket,
        objectName: target,
        headers: copySourceHeaders(this.bucket, sources[0], stats[0].etag),
      }).then(drainCopyResponse);
      return this.mustStat(target);
    }

    const pieces: { source: number; range?: string }[] = [];
    stats.forEach((stat, source) => {
      if (stat.size === 0) return; // only the last source can be empty; it adds nothing
      const count = Math.ceil(stat.size / this.maxCopyPartSize);
      if (count === 1) return void pieces.push({ source });
      const base = Math.floor(stat.size / count);
      let start = 0;
      for (let i = 0; i < count; i++) {
        const length = base + (i < stat.size % count ? 1 : 0);
        pieces.push({ source, range: `bytes=${start}-${start + length - 1}` });
        start += length;
      }
    });
    if (pieces.length > S3_MAX_PARTS) {
      throw new KilnError('unprocessable', `compose needs ${pieces.length} parts; S3 allows ${S3_MAX_PARTS}`);
    }
    const contentType = stats[0].metaData?.['content-type'] as string | undefined;
    const uploadId = await this.client.initiateNewMultipartUpload(
      this.bucket,
      target,
      contentType ? { 'Content-Type': contentType } : {},
    );
    try {
      const parts = await mapLimit(pieces, this.partsInFlight, async (piece, index) => {
        const headers = copySourceHeaders(this.bucket, sources[piece.source], stats[piece.source].etag);
        if (piece.range) headers['x-amz-copy-source-range'] = piece.range;
        const part = await this.client.uploadPart({
          bucketName: this.bucket,
          objectName: target,
          uploadID: encodeURIComponent(uploadId),
          partNumber: index + 1,
          headers,
        });
        if (!part.etag) throw new S3RequestError(`UploadPartCopy of part ${index + 1} returned no ETag`, 'NoETag');
        return { part: index + 1, etag: part.etag };
      });
      await this.client.completeMultipartUpload(this.bucket, target, uploadId, parts);
    } catch (err: unknown) {
      await this.abortQuietly(target, uploadId);
      throw err;
    }
    return this.mustStat(target);
  }

  async presignGet(key: string, expirySeconds: number, options: PresignOptions = {}): Promise<string> {
    const params: Record<string, string> = {};
    if (options.filename) params['response-content-disposition'] = contentDisposition(options.filename);
    if (options.contentType) params['response-content-type'] = options.contentType;
    return this.signer.presignedUrl('GET', this.bucket, key, expirySeconds, params);
  }

  async abortStaleUploads(
    olderThan: Date,
    keep?: (upload: MultipartUploadRef) => boolean | Promise<boolean>,
  ): Promise<number> {
    let aborted = 0;
    let keyMarker = '';
    let uploadIdMarker = '';
    for (;;) {
      const page = await this.client.listIncompleteUploadsQuery(this.bucket, '', keyMarker, uploadIdMarker, '');
      for (const upload of page.uploads) {
        if (upload.initiated.getTime() >= olderThan.getTime()) continue;
        if (keep && (await keep({ key: upload.key, uploadId: upload.uploadId }))) continue;
        try {
          await this.client.abortMultipartUpload(this.bucket, upload.key, upload.uploadId);
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

  // --- multipart uploads driven by the caller --------------------------------------------------------

  async createMultipart(key: string, options: { contentType?: string } = {}): Promise<string> {
    return this.client.initiateNewMultipartUpload(
      this.bucket,
      key,
      options.contentType ? { 'Content-Type': options.contentType } : {},
    );
  }

  /** One streamed presigned PUT (UploadPart): the same path as put() of a known size. */
  async putPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Readable,
    size: number,
    options: { maxBytes?: number } = {},
  ): Promise<{ etag: string; size: number }> {
    checkPartNumber(partNumber); // radosgw 16 stores part numbers 0 and 10,001 without complaint
    checkUploadId(uploadId);
    const { maxBytes } = options;
    if (!Number.isSafeInteger(size) || size < 0) throw new KilnError('invalid_input', `invalid part size ${size}`);
    if (maxBytes !== undefined && size > maxBytes) throw tooLarge(key, maxBytes);
    if (size > S3_MAX_SINGLE_PUT) throw new KilnError('payload_too_large', `a part holds at most 5 GiB (got ${size})`);
    const meter = new BodyMeter(key, size, maxBytes, false);
    try {
      const { etag } = await this.putStreamed(key, body, size, undefined, meter, {
        partNumber: String(partNumber),
        uploadId,
      });
      if (!etag) throw new S3RequestError(`UploadPart ${partNumber} of ${key} returned no ETag`, 'NoETag');
      return { etag, size };
    } catch (err: unknown) {
      // S3 answers NoSuchUpload (404) for an unknown, aborted or completed upload id, and for an id
      // of another key; radosgw answers early (after a few MiB of a large body), which PutRequest
      // reports as that answer.
      if (errorCode(err) === 'NoSuchUpload') throw noSuchUpload(key, uploadId);
      throw err;
    }
  }

  /**
   * CompleteMultipartUpload, sent as a presigned POST so that the answer is ours to read (minio-js
   * retries a 500 after logging to the console, then throws the status away, and cannot read an
   * error that S3 sends in a 200 answer). Observed on radosgw 16 (and mapped here):
   * - a wrong ETag, a part never uploaded, or an uploaded part left out of the list: 400 InvalidPart
   *   → conflict (AWS and MinIO instead drop unlisted parts; the port asks for the exact list);
   * - a part but the last under 5 MiB: 400 EntityTooSmall → unprocessable;
   * - after either the upload stays open, and completing it with the right list succeeds;
   * - an unknown or aborted upload id: 500 (not NoSuchUpload as AWS and MinIO answer). A 500 is
   *   therefore checked with ListParts: when the upload does not exist (NoSuchUpload, or NoSuchKey as
   *   radosgw answers) it is not_found, else the 500 stands;
   * - an upload completed before, completed again with the same list: 200 (the object as it is);
   *   with another list: 500, hence not_found as above;
   * - the answer's ETag is empty, so the object is stat'ed for its ObjectInfo.
   */
  async completeMultipart(key: string, uploadId: string, parts: MultipartPart[]): Promise<ObjectInfo> {
    checkPartList(parts);
    checkUploadId(uploadId);
    const xml =
      '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      parts
        .map(({ partNumber, etag }) => {
          const quoted = `"${escapeXml(etag.replace(/^"|"$/g, ''))}"`;
          return `<Part><PartNumber>${partNumber}</PartNumber><ETag>${quoted}</ETag></Part>`;
        })
        .join('') +
      '</CompleteMultipartUpload>';
    const url = await this.client.presignedUrl('POST', this.bucket, key, UPLOAD_URL_SECONDS, { uploadId });
    const answer = await sendText('POST', url, xml, this.idleTimeoutMs);
    // S3 may answer 200 and still report an error in the body (a long completion that failed).
    const code = answer.text.includes('<Error>') ? (errorCodeIn(answer.text) ?? 'Error') : undefined;
    if (answer.status === 200 && code === undefined) return this.mustStat(key);
    const message = `completing upload ${uploadId} of ${key}`;
    switch (code) {
      case 'EntityTooSmall':
        throw new KilnError('unprocessable', `${message}: every part but the last needs at least 5 MiB`);
      case 'InvalidPart':
      case 'InvalidPartOrder':
        throw new KilnError(
          'conflict',
          `${message}: the parts listed are not the parts uploaded (an ETag differs, or a part is missing or left out)`,
        );
      case 'NoSuchUpload':
        throw noSuchUpload(key, uploadId);
    }
    if (answer.status >= 500 && !(await this.uploadExists(key, uploadId))) throw noSuchUpload(key, uploadId);
    throw answerError(message, answer.status, code);
  }

  async listParts(key: string, uploadId: string): Promise<(MultipartPart & { size: number })[]> {
    checkUploadId(uploadId);
    try {
      // minio-js pages through ListParts (1,000 per page); the method is protected in its typings only.
      const parts = await (this.client as unknown as { listParts(b: string, k: string, u: string): Promise<{ part: number; etag: string; size: number }[]> }).listParts(
        this.bucket,
        key,
        uploadId,
      );
      return parts.map((p) => ({ partNumber: p.part, etag: p.etag.replace(/^"|"$/g, ''), size: Number(p.size) })).sort((a, b) => a.partNumber - b.partNumber);
    } catch (err: unknown) {
      // radosgw answers ListParts of an unknown upload with NoSuchKey, AWS and MinIO with NoSuchUpload.
      const code = errorCode(err);
      if (code === 'NoSuchUpload' || code === 'NoSuchKey') throw noSuchUpload(key, uploadId);
      throw err;
    }
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    checkUploadId(uploadId); // an empty id would make the DELETE remove the object itself
    try {
      await this.client.abortMultipartUpload(this.bucket, key, encodeURIComponent(uploadId));
    } catch (err: unknown) {
      // radosgw, MinIO and AWS answer 404 NoSuchUpload for an unknown, aborted or completed upload.
      if (errorCode(err) !== 'NoSuchUpload') throw err;
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Readable> {
    checkByteRange(start, end);
    try {
      return await this.client.getPartialObject(this.bucket, key, start, end - start + 1);
    } catch (err: unknown) {
      if (isNotFound(err)) throw new KilnError('not_found', `object ${key} not found`);
      if (errorCode(err) === 'InvalidRange') {
        throw new KilnError('range_not_satisfiable', `bytes ${start}-${end} are not within ${key}`);
      }
      throw err;
    }
  }

  /** ListParts with one entry: whether the upload is still open. */
  private async uploadExists(key: string, uploadId: string): Promise<boolean> {
    const url = await this.client.presignedUrl('GET', this.bucket, key, UPLOAD_URL_SECONDS, {
      uploadId,
      'max-parts': '1',
    });
    const answer = await sendText('GET', url, undefined, this.idleTimeoutMs);
    if (answer.status === 200) return true;
    const code = errorCodeIn(answer.text);
    // radosgw answers ListParts of an unknown upload with NoSuchKey, AWS and MinIO with NoSuchUpload.
    if (answer.status === 404 && (code === 'NoSuchUpload' || code === 'NoSuchKey')) return false;
    throw answerError(`listing the parts of upload ${uploadId} of ${key}`, answer.status, code);
  }

  // --- uploads -------------------------------------------------------------------------------------

  /**
   * One presigned PUT with Content-Length, the body streamed through with backpressure. `params`
   * (partNumber, uploadId) make it an UploadPart.
   */
  private async putStreamed(
    key: string,
    body: Readable,
    size: number,
    contentType: string | undefined,
    meter: BodyMeter,
    params?: Record<string, string>,
  ): Promise<PutResult> {
    const url = await this.client.presignedUrl('PUT', this.bucket, key, UPLOAD_URL_SECONDS, params);
    const request = new PutRequest(url, size, contentType, this.idleTimeoutMs);
    try {
      // The chunk that completes `size` is held back until the body has ended, so the server never
      // sees a complete object from a body that turns out longer than announced.
      let last: Buffer | undefined;
      for await (const chunk of chunksOf(body)) {
        meter.take(chunk);
        if (meter.bytes === size) {
          last = chunk;
          continue;
        }
        await request.write(chunk);
      }
      const sha256 = meter.finish();
      if (last) await request.write(last);
      const etag = unquote(await request.end());
      return { key, size, ...(sha256 !== undefined ? { sha256 } : {}), ...(etag ? { etag } : {}) };
    } catch (err: unknown) {
      request.abort();
      throw err;
    }
  }

  /**
   * Multipart upload from a stream of unknown (or > 5 GiB) size. Parts are collected into buffers of
   * `partSize`; at most `partsInFlight` buffers exist at once (reading pauses while they are all in
   * use). A body that fits in one part is sent as one PUT instead. Any failure aborts the upload.
   */
  private async putMultipart(
    key: string,
    body: Readable,
    partSize: number,
    contentType: string | undefined,
    meter: BodyMeter,
  ): Promise<PutResult> {
    let uploadId: string | undefined;
    let partNumber = 0;
    let failure: { error: unknown } | undefined;
    const done: { part: number; etag: string }[] = [];
    const inFlight = new Set<Promise<void>>();
    // Part buffers are allocated once per upload and reused; bytes are copied in, so the incoming
    // chunks die young and memory stays at partsInFlight × partSize instead of waiting for the GC.
    const free: Buffer[] = [];

    const dispatch = async (buffer: Buffer, length: number): Promise<void> => {
      partNumber += 1;
      if (partNumber > S3_MAX_PARTS) {
        throw new KilnError('payload_too_large', `object exceeds ${S3_MAX_PARTS} parts of ${partSize} bytes`);
      }
      uploadId ??= await this.client.initiateNewMultipartUpload(
        this.bucket,
        key,
        contentType ? { 'Content-Type': contentType } : {},
      );
      const part = partNumber;
      const upload = this.uploadPart(key, uploadId, part, buffer.subarray(0, length)).then(
        (etag) => void done.push({ part, etag }),
        (error: unknown) => void (failure ??= { error }),
      );
      void upload.finally(() => free.push(buffer)); // runs before `tracked` leaves inFlight
      const tracked: Promise<void> = upload.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
      // Before filling the next buffer, wait until it fits under the bound.
      while (inFlight.size >= this.partsInFlight) await Promise.race(inFlight);
      if (failure) throw failure.error;
    };

    try {
      let buffer: Buffer | undefined;
      let length = 0;
      for await (const chunk of chunksOf(body)) {
        meter.take(chunk);
        let at = 0;
        while (at < chunk.length) {
          buffer ??= free.pop() ?? Buffer.allocUnsafe(partSize);
          const copied = chunk.copy(buffer, length, at, Math.min(chunk.length, at + partSize - length));
          at += copied;
          length += copied;
          if (length === partSize) {
            const full = buffer;
            buffer = undefined;
            length = 0;
            await dispatch(full, partSize);
          }
        }
      }
      const sha256 = meter.finish();
      if (uploadId === undefined) {
        // Everything fit in one buffer (possibly empty): a single PUT.
        const url = await this.client.presignedUrl('PUT', this.bucket, key, UPLOAD_URL_SECONDS);
        await sendBuffered(url, buffer ? buffer.subarray(0, length) : Buffer.alloc(0), contentType, this.idleTimeoutMs);
        return { key, size: meter.bytes, sha256 };
      }
      if (buffer && length > 0) await dispatch(buffer, length);
      await Promise.all(inFlight);
      if (failure) throw failure.error;
      done.sort((a, b) => a.part - b.part);
      await this.client.completeMultipartUpload(this.bucket, key, uploadId, done);
      return { key, size: meter.bytes, sha256 };
    } catch (err: unknown) {
      await Promise.allSettled(inFlight);
      if (uploadId !== undefined) await this.abortQuietly(key, uploadId);
      throw err;
    }
  }

  private async uploadPart(key: string, uploadId: string, part: number, bytes: Buffer): Promise<string> {
    const url = await this.client.presignedUrl('PUT', this.bucket, key, UPLOAD_URL_SECONDS, {
      partNumber: String(part),
      uploadId,
    });
    for (let attempt = 1; ; attempt++) {
      try {
        return await sendBuffered(url, bytes, undefined, this.idleTimeoutMs);
      } catch (err: unknown) {
        if (attempt >= PART_ATTEMPTS || !isRetryable(err)) throw err;
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  private async abortQuietly(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.abortMultipartUpload(this.bucket, key, uploadId);
    } catch {
      // Best effort: abortStaleUploads (maintenance) removes what is left.
    }
  }

  private async mustStat(key: string): Promise<ObjectInfo> {
    const info = await this.stat(key);
    if (!info) throw new S3RequestError(`object ${key} missing right after it was written`, 'NoSuchKey');
    return info;
  }

}

// --- helpers -----------------------------------------------------------------------------------------

function minioClient(endpoint: string, options: MinioObjectStoreOptions, region: string): Client {
  const url = new URL(endpoint);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`S3 endpoint must be http(s): ${endpoint}`);
  }
  if (url.pathname !== '/' || url.search) throw new Error(`S3 endpoint must not have a path: ${endpoint}`);
  const useSSL = url.protocol === 'https:';
  return new Client({
    endPoint: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : useSSL ? 443 : 80,
    useSSL,
    accessKey: options.accessKey,
    secretKey: options.secretKey,
    region,
    pathStyle: true,
  });
}

/** Counts, hashes and checks the bytes of a put as they pass. */
class BodyMeter {
  bytes = 0;
  private readonly hash: Hash | undefined;

  constructor(
    private readonly key: string,
    private readonly size: number | undefined,
    private readonly maxBytes: number | undefined,
    hashing: boolean,
  ) {
    this.hash = hashing ? createHash('sha256') : undefined;
  }

  take(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.maxBytes !== undefined && this.bytes > this.maxBytes) throw tooLarge(this.key, this.maxBytes);
    if (this.size !== undefined && this.bytes > this.size) throw sizeMismatch(this.key, this.size, 'more');
    this.hash?.update(chunk);
  }

  /** Hex SHA-256 of everything taken (undefined when not hashing); throws when fewer bytes came than announced. */
  finish(): string | undefined {
    if (this.size !== undefined && this.bytes !== this.size) throw sizeMismatch(this.key, this.size, 'fewer');
    return this.hash?.digest('hex');
  }
}

function tooLarge(key: string, maxBytes: number): KilnError {
  return new KilnError('payload_too_large', `${key}: more than ${maxBytes} bytes`);
}

function noSuchUpload(key: string, uploadId: string): KilnError {
  return new KilnError('not_found', `multipart upload ${uploadId} of ${key} not found`);
}

function errorCodeIn(xml: string): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(xml)?.[1];
}

function answerError(what: string, status: number, code: string | undefined): S3RequestError {
  return new S3RequestError(`${what} failed: ${status} ${code ?? ''}`.trim(), code ?? `HTTP${status}`, status);
}

function escapeXml(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sizeMismatch(key: string, size: number, what: 'more' | 'fewer'): KilnError {
  return new KilnError('invalid_input', `${key}: the body has ${what} bytes than the announced ${size}`);
}

/**
 * The body's chunks as Buffers. Stopping early (error, limit) leaves the stream paused and unpiped,
 * not destroyed: it belongs to the caller.
 */
async function* chunksOf(body: Readable): AsyncGenerator<Buffer> {
  const iterator = body.iterator({ destroyOnReturn: false }) as AsyncIterableIterator<unknown>;
  for await (const chunk of iterator) {
    const buffer = Buffer.isBuffer(chunk)
      ? chunk
      : typeof chunk === 'string'
        ? Buffer.from(chunk)
        : chunk instanceof Uint8Array
          ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
          : undefined;
    if (!buffer) throw new TypeError('put body must yield bytes');
    if (buffer.length) yield buffer;
  }
}

/** A raw PUT (presigned URL: no payload signing) whose body is written piece by piece. */
class PutRequest {
  private readonly req: http.ClientRequest;
  private readonly answer: Promise<string>;
  private settled: { error?: unknown } | undefined;
  /** A write waiting for 'drain'; failed instead when the request settles first. */
  private waiter: { resolve: () => void; reject: (error: unknown) => void } | undefined;

  constructor(url: string, length: number, contentType: string | undefined, idleTimeoutMs: number) {
    const target = new URL(url);
    const headers: http.OutgoingHttpHeaders = { 'content-length': length };
    if (contentType) headers['content-type'] = contentType;
    this.req = (target.protocol === 'https:' ? https : http).request(target, { method: 'PUT', headers });
    this.req.setTimeout(idleTimeoutMs, () =>
      this.req.destroy(new S3RequestError(`S3 request idle for ${idleTimeoutMs} ms`, 'RequestTimeout')),
    );
    this.req.on('drain', () => this.wake());
    this.answer = new Promise<string>((resolve, reject) => {
      this.req.once('response', (res) => readAnswer(res).then(resolve, reject));
      this.req.on('error', reject); // may fire more than once (e.g. after destroy); later calls are no-ops
    });
    this.answer.then(
      () => this.settle({}),
      (error: unknown) => this.settle({ error }),
    );
  }

  /** Writes a chunk; resolves once the socket can take more (backpressure). */
  async write(chunk: Buffer): Promise<void> {
    this.throwIfSettled();
    if (this.req.write(chunk)) return;
    await new Promise<void>((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Ends the body and returns the object's ETag. */
  async end(): Promise<string> {
    this.throwIfSettled();
    this.req.end();
    return this.answer;
  }

  abort(): void {
    if (!this.req.destroyed) this.req.destroy();
  }

  private settle(outcome: { error?: unknown }): void {
    this.settled ??= outcome;
    this.wake();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    if (!waiter) return;
    if (this.settled) waiter.reject(this.earlyError());
    else waiter.resolve();
  }

  private throwIfSettled(): void {
    if (this.settled) throw this.earlyError();
  }

  private earlyError(): unknown {
    return this.settled?.error ?? new S3RequestError('S3 answered before the body was complete', 'EarlyAnswer');
  }
}


/** PUTs bytes already in memory (a part, or a small whole object); returns the ETag. */
async function sendBuffered(
  url: string,
  bytes: Buffer,
  contentType: string | undefined,
  idleTimeoutMs: number,
): Promise<string> {
  const request = new PutRequest(url, bytes.length, contentType, idleTimeoutMs);
  try {
    if (bytes.length) await request.write(bytes);
    return await request.end();
  } catch (err: unknown) {
    request.abort();
    throw err;
  }
}

/** A small S3 request with a text body (or none) whose answer is read as text, whatever its status. */
async function sendText(
  method: string,
  url: string,
  body: string | undefined,
  idleTimeoutMs: number,
): Promise<{ status: number; text: string }> {
  const target = new URL(url);
  const payload = body === undefined ? undefined : Buffer.from(body, 'utf8');
  const headers: http.OutgoingHttpHeaders = payload
    ? { 'content-length': payload.length, 'content-type': 'application/xml' }
    : {};
  return new Promise((resolve, reject) => {
    const req = (target.protocol === 'https:' ? https : http).request(target, { method, headers });
    req.setTimeout(idleTimeoutMs, () =>
      req.destroy(new S3RequestError(`S3 request idle for ${idleTimeoutMs} ms`, 'RequestTimeout')),
    );
    req.once('response', (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < 1024 * 1024) parts.push(chunk); // answers here are small XML documents
        size += chunk.length;
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
      res.once('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Reads an S3 answer: the ETag on 2xx, else an S3RequestError from the XML error body. */
async function readAnswer(res: http.IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (size < 64 * 1024) parts.push(chunk);
    size += chunk.length;
  }
  const status = res.statusCode ?? 0;
  if (status >= 200 && status < 300) return String(res.headers.etag ?? '').replace(/^"|"$/g, '');
  const text = Buffer.concat(parts).toString('utf8');
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? `HTTP${status}`;
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] || code;
  throw new S3RequestError(`S3 PUT failed: ${status} ${code}: ${message}`, code, status);
}

function isRetryable(err: unknown): boolean {
  if (err instanceof S3RequestError) {
    return err.statusCode === undefined ? err.code === 'RequestTimeout' : err.statusCode >= 500;
  }
  const code = errorCode(err);
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNREFUSED' || code === 'ETIMEDOUT';
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

function isNotFound(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'NoSuchKey' || code === 'NotFound';
}

interface DeleteError {
  Key: string;
  Code: string;
}

function isDeleteError(item: unknown): item is DeleteError {
  return typeof item === 'object' && item !== null && 'Code' in item;
}

/** x-amz-copy-source must be URL-encoded (keys hold user file names); pinned to the checked version. */
function copySourceHeaders(bucket: string, key: string, etag: string): Record<string, string> {
  return {
    'x-amz-copy-source': `/${bucket}/${key.split('/').map(encodeRfc3986).join('/')}`,
    'x-amz-copy-source-if-match': `"${etag}"`,
  };
}

async function drainCopyResponse(res: http.IncomingMessage): Promise<void> {
  // CopyObject can answer 200 with an <Error> body.
  let text = '';
  for await (const chunk of res as AsyncIterable<Buffer>) text += chunk.toString('utf8');
  if (text.includes('<Error>')) {
    const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? 'CopyFailed';
    throw new S3RequestError(`CopyObject failed: ${code}`, code, res.statusCode);
  }
}

function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** attachment; filename="ascii fallback"; filename*=UTF-8''percent-encoded (RFC 6266 / 8187). */
function contentDisposition(filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeRfc3986(filename)}`;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index], index);
      } catch (err: unknown) {
        failed = true;
        throw err;
      }
    }
  };
  const workers = Array.from({ length: Math.min(limit, items.length) }, worker);
  const settled = await Promise.allSettled(workers);
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (rejected) throw rejected.reason;
  return results;
}

function unquote(etag: string | undefined): string | undefined {
  return etag?.replace(/^"|"$/g, '') || undefined;
}
