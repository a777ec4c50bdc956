// Multipart uploads driven by the caller (chunked uploads, tus): the caller names the upload, sends
// each part and lists them to complete. Every radosgw quirk met here is written next to its handling.
import type { Readable } from 'node:stream';

import { KilnError } from '@kiln/contracts';

import { BodyMeter, tooLarge } from './body-meter';
import { checkPartList, checkPartNumber, checkUploadId, type MultipartPart, type ObjectInfo } from './object-store';
import type { S3Bucket } from './s3-bucket';
import { S3RequestError, answerError, errorCode, parseS3Error } from './s3-errors';
import { sendText, stripEtagQuotes } from './s3-http';
import { S3_MAX_SINGLE_PUT } from './s3-limits';
import { putStreamed } from './stream-put';
import { escapeXml } from './wire-encoding';

export class MultipartWriter {
  constructor(private readonly bucket: S3Bucket) {}

  async create(key: string, options: { contentType?: string } = {}): Promise<string> {
    return this.bucket.beginMultipart(key, options.contentType);
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
      const { etag } = await putStreamed(this.bucket, key, body, size, undefined, meter, {
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
  async complete(key: string, uploadId: string, parts: MultipartPart[]): Promise<ObjectInfo> {
    checkPartList(parts);
    checkUploadId(uploadId);
    const xml =
      '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      parts
        .map(({ partNumber, etag }) => {
          const quoted = `"${escapeXml(stripEtagQuotes(etag))}"`;
          return `<Part><PartNumber>${partNumber}</PartNumber><ETag>${quoted}</ETag></Part>`;
        })
        .join('') +
      '</CompleteMultipartUpload>';
    const url = await this.bucket.presign('POST', key, { uploadId });
    const answer = await sendText('POST', url, xml, this.bucket.idleTimeoutMs);
    // S3 may answer 200 and still report an error in the body (a long completion that failed).
    const error = parseS3Error(answer.text);
    const code = error ? (error.code ?? 'Error') : undefined;
    if (answer.status === 200 && code === undefined) return this.bucket.mustStat(key);
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
      const client = this.bucket.client as unknown as {
        listParts(b: string, k: string, u: string): Promise<{ part: number; etag: string; size: number }[]>;
      };
      const parts = await client.listParts(this.bucket.name, key, uploadId);
      return parts
        .map((p) => ({ partNumber: p.part, etag: stripEtagQuotes(p.etag), size: Number(p.size) }))
        .sort((a, b) => a.partNumber - b.partNumber);
    } catch (err: unknown) {
      // radosgw answers ListParts of an unknown upload with NoSuchKey, AWS and MinIO with NoSuchUpload.
      const code = errorCode(err);
      if (code === 'NoSuchUpload' || code === 'NoSuchKey') throw noSuchUpload(key, uploadId);
      throw err;
    }
  }

  async abort(key: string, uploadId: string): Promise<void> {
    checkUploadId(uploadId); // an empty id would make the DELETE remove the object itself
    try {
      await this.bucket.client.abortMultipartUpload(this.bucket.name, key, encodeURIComponent(uploadId));
    } catch (err: unknown) {
      // radosgw, MinIO and AWS answer 404 NoSuchUpload for an unknown, aborted or completed upload.
      if (errorCode(err) !== 'NoSuchUpload') throw err;
    }
  }

  /** ListParts with one entry: whether the upload is still open. */
  private async uploadExists(key: string, uploadId: string): Promise<boolean> {
    const url = await this.bucket.presign('GET', key, { uploadId, 'max-parts': '1' });
    const answer = await sendText('GET', url, undefined, this.bucket.idleTimeoutMs);
    if (answer.status === 200) return true;
    const code = parseS3Error(answer.text)?.code;
    // radosgw answers ListParts of an unknown upload with NoSuchKey, AWS and MinIO with NoSuchUpload.
    if (answer.status === 404 && (code === 'NoSuchUpload' || code === 'NoSuchKey')) return false;
    throw answerError(`listing the parts of upload ${uploadId} of ${key}`, answer.status, code);
  }
}

function noSuchUpload(key: string, uploadId: string): KilnError {
  return new KilnError('not_found', `multipart upload ${uploadId} of ${key} not found`);
}
