// The bucket as the adapter's parts share it: minio-js for signing and control calls, plus the few
// calls every part needs (presign a raw request, stat, start and abort a multipart upload).
import { Client } from 'minio';

import type { ObjectInfo } from './object-store';
import { S3RequestError, fromMinioError, isNotFound } from './s3-errors';

/** Presigned URLs for our own requests: checked when the request starts, so short is fine. */
const UPLOAD_URL_SECONDS = 15 * 60;

/** A minio-js client for an endpoint given as a URL (path-style, region fixed so signing never looks it up). */
export function minioClient(endpoint: string, keys: { accessKey: string; secretKey: string }, region: string): Client {
  const url = new URL(endpoint);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`S3 endpoint must be http(s): ${endpoint}`);
  }
  if (url.pathname !== '/' || url.search) throw new Error(`S3 endpoint must not have a path: ${endpoint}`);
  const useSSL = url.protocol === 'https:';
  const client = new Client({
    endPoint: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : useSSL ? 443 : 80,
    useSSL,
    accessKey: keys.accessKey,
    secretKey: keys.secretKey,
    region,
    pathStyle: true,
  });
  // Every minio-js request goes through this one method: a 5xx it gave up on leaves it as an
  // S3RequestError with its status (see fromMinioError), not as a plain Error.
  const send = client.makeRequestStreamAsync.bind(client);
  client.makeRequestStreamAsync = (...args) =>
    send(...args).catch((err: unknown) => {
      throw fromMinioError(err);
    });
  return client;
}

export class S3Bucket {
  constructor(
    readonly client: Client,
    readonly name: string,
    /** A raw request idle (no byte either way) this long is aborted. */
    readonly idleTimeoutMs: number,
  ) {}

  /** A presigned URL for one raw request on `key`; `params` select the sub-resource (uploadId, partNumber…). */
  presign(method: 'GET' | 'PUT' | 'POST', key: string, params?: Record<string, string>): Promise<string> {
    return this.client.presignedUrl(method, this.name, key, UPLOAD_URL_SECONDS, params);
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const stat = await this.client.statObject(this.name, key);
      return { key, size: stat.size, etag: stat.etag, lastModified: stat.lastModified };
    } catch (err: unknown) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /** The ObjectInfo of an object just written (S3 answers to copies and completions carry too little). */
  async mustStat(key: string): Promise<ObjectInfo> {
    const info = await this.stat(key);
    if (!info) throw new S3RequestError(`object ${key} missing right after it was written`, 'NoSuchKey');
    return info;
  }

  /** CreateMultipartUpload; returns the upload id. */
  beginMultipart(key: string, contentType?: string): Promise<string> {
    return this.client.initiateNewMultipartUpload(this.name, key, contentType ? { 'Content-Type': contentType } : {});
  }

  async abortQuietly(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.abortMultipartUpload(this.name, key, uploadId);
    } catch {
      // Best effort: abortStaleUploads (maintenance) removes what is left.
    }
  }
}
