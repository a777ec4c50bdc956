// Server-side concatenation of whole objects (CopyObject / UploadPartCopy).
import { KilnError } from '@kiln/contracts';

import { mapLimit } from './map-limit';
import { S3_MAX_PARTS, S3_MIN_PART_SIZE, type ObjectInfo } from './object-store';
import type { S3Bucket } from './s3-bucket';
import { S3RequestError, isNotFound } from './s3-errors';
import { readCopyAnswer } from './s3-http';
import { S3_MAX_OBJECT_SIZE } from './s3-limits';
import { encodeRfc3986 } from './wire-encoding';

/**
 * Concatenates whole objects server-side. Not minio-js's composeObject, which (8.0.7) swallows
 * errors (resolves undefined), ignores a range's start, copies sources over ~524 MiB as several
 * pieces under one part number (silently truncated result) and sends non-ASCII keys unescaped.
 * Here: one CopyObject for a single source, else a multipart upload with one UploadPartCopy per
 * source (a source over maxCopyPartSize is copied as exact byte ranges), each pinned with
 * x-amz-copy-source-if-match to the ETag seen at the size check, so a source replaced meanwhile
 * fails the compose on MinIO and AWS (radosgw 16 ignores that header).
 */
export async function composeObjects(
  bucket: S3Bucket,
  target: string,
  sources: string[],
  options: { partsInFlight: number; maxCopyPartSize: number },
): Promise<ObjectInfo> {
  const { client, name } = bucket;
  const { partsInFlight, maxCopyPartSize } = options;
  if (!sources.length) throw new KilnError('invalid_input', 'compose needs at least one source');
  const stats = await mapLimit(sources, partsInFlight * 2, async (key) => {
    try {
      return await client.statObject(name, key);
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

  if (sources.length === 1 && stats[0].size <= maxCopyPartSize) {
    await client
      .makeRequestAsync({
        method: 'PUT',
        bucketName: name,
        objectName: target,
        headers: copySourceHeaders(name, sources[0], stats[0].etag),
      })
      .then(readCopyAnswer);
    return bucket.mustStat(target);
  }

  const pieces: { source: number; range?: string }[] = [];
  stats.forEach((stat, source) => {
    if (stat.size === 0) return; // only the last source can be empty; it adds nothing
    const count = Math.ceil(stat.size / maxCopyPartSize);
    if (count === 1) {
      pieces.push({ source });
      return;
    }
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
  const uploadId = await bucket.beginMultipart(target, contentType);
  try {
    const parts = await mapLimit(pieces, partsInFlight, async (piece, index) => {
      const headers = copySourceHeaders(name, sources[piece.source], stats[piece.source].etag);
      if (piece.range) headers['x-amz-copy-source-range'] = piece.range;
      const part = await client.uploadPart({
        bucketName: name,
        objectName: target,
        uploadID: encodeURIComponent(uploadId),
        partNumber: index + 1,
        headers,
      });
      if (!part.etag) throw new S3RequestError(`UploadPartCopy of part ${index + 1} returned no ETag`, 'NoETag');
      return { part: index + 1, etag: part.etag };
    });
    await client.completeMultipartUpload(name, target, uploadId, parts);
  } catch (err: unknown) {
    await bucket.abortQuietly(target, uploadId);
    throw err;
  }
  return bucket.mustStat(target);
}

/** x-amz-copy-source must be URL-encoded (keys hold user file names); pinned to the checked version. */
function copySourceHeaders(bucket: string, key: string, etag: string): Record<string, string> {
  return {
    'x-amz-copy-source': `/${bucket}/${key.split('/').map(encodeRfc3986).join('/')}`,
    'x-amz-copy-source-if-match': `"${etag}"`,
  };
}
