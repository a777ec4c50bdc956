// Writing an object from a stream without minio-js's putObject (it buffers small streams whole): a
// known size is one streamed presigned PUT; an unknown size is a multipart upload of bounded part
// buffers, each sent with a presigned PUT.
import type { Readable } from 'node:stream';

import { KilnError } from '@kiln/contracts';

import { BodyMeter, chunksOf } from './body-meter';
import { S3_MAX_PARTS, type PutResult } from './object-store';
import type { S3Bucket } from './s3-bucket';
import { isRetryable } from './s3-errors';
import { PutRequest, sendBuffered, stripEtagQuotes } from './s3-http';

/** Attempts for a buffered part (the bytes are in memory, so a retry is cheap). */
const PART_ATTEMPTS = 3;

/**
 * One presigned PUT with Content-Length, the body piped through with backpressure (PutRequest.relay:
 * no awaited write per piece). `params` (partNumber, uploadId) make it an UploadPart.
 */
export async function putStreamed(
  bucket: S3Bucket,
  key: string,
  body: Readable,
  size: number,
  contentType: string | undefined,
  meter: BodyMeter,
  params?: Record<string, string>,
): Promise<PutResult> {
  const url = await bucket.presign('PUT', key, params);
  const request = new PutRequest(url, size, contentType, bucket.idleTimeoutMs);
  try {
    let sha256: string | undefined;
    await request.relay(
      body,
      size,
      (chunk) => meter.take(chunk),
      () => {
        sha256 = meter.finish();
      },
    );
    const etag = stripEtagQuotes(await request.end()) || undefined;
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
export async function putInParts(
  bucket: S3Bucket,
  key: string,
  body: Readable,
  options: { partSize: number; partsInFlight: number; contentType: string | undefined },
  meter: BodyMeter,
): Promise<PutResult> {
  const { partSize, partsInFlight, contentType } = options;
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
    uploadId ??= await bucket.beginMultipart(key, contentType);
    const part = partNumber;
    const upload = uploadPart(bucket, key, uploadId, part, buffer.subarray(0, length)).then(
      (etag) => void done.push({ part, etag }),
      (error: unknown) => {
        failure ??= { error };
      },
    );
    void upload.finally(() => free.push(buffer)); // runs before `tracked` leaves inFlight
    const tracked: Promise<void> = upload.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    // Before filling the next buffer, wait until it fits under the bound.
    while (inFlight.size >= partsInFlight) await Promise.race(inFlight);
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
      const url = await bucket.presign('PUT', key);
      const bytes = buffer ? buffer.subarray(0, length) : Buffer.alloc(0);
      await sendBuffered(url, bytes, contentType, bucket.idleTimeoutMs);
      return { key, size: meter.bytes, sha256 };
    }
    if (buffer && length > 0) await dispatch(buffer, length);
    await Promise.all(inFlight);
    if (failure) throw failure.error;
    done.sort((a, b) => a.part - b.part);
    await bucket.client.completeMultipartUpload(bucket.name, key, uploadId, done);
    return { key, size: meter.bytes, sha256 };
  } catch (err: unknown) {
    await Promise.allSettled(inFlight);
    if (uploadId !== undefined) await bucket.abortQuietly(key, uploadId);
    throw err;
  }
}

/** UploadPart of bytes in memory, retried on a 5xx or a dropped connection; returns the ETag. */
async function uploadPart(
  bucket: S3Bucket,
  key: string,
  uploadId: string,
  part: number,
  bytes: Buffer,
): Promise<string> {
  const url = await bucket.presign('PUT', key, { partNumber: String(part), uploadId });
  for (let attempt = 1; ; attempt++) {
    try {
      return await sendBuffered(url, bytes, undefined, bucket.idleTimeoutMs);
    } catch (err: unknown) {
      if (attempt >= PART_ATTEMPTS || !isRetryable(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}
