// Presigned requests a client sends straight to S3 (direct uploads): part PUTs whose Content-Length
// is signed, browser POST forms with an exact size, and the bucket's CORS rule that lets a web page
// send them. minio-js signs no header but Host on a presigned URL, so parts are signed with the AWS
// SDK (UploadPartCommand + getSignedUrl with `signableHeaders: content-length`); the POST policy is
// minio-js's.
import { PutBucketCorsCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Client } from 'minio';

import { KilnError } from '@kiln/contracts';

import { checkPartNumber, checkUploadId, type PresignedPost, type PresignPostOptions } from './object-store';
import { S3_MAX_SINGLE_PUT } from './s3-limits';

/** SigV4 presigned URLs live at most a week. */
const MAX_EXPIRY_SECONDS = 604_800;

export interface DirectSignerOptions {
  /** The endpoint clients reach (KILN_S3_PUBLIC_URL); URLs are signed for its host. */
  publicEndpoint: string;
  /** The endpoint this process reaches (bucket configuration calls). */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  bucket: string;
}

function s3Client(endpoint: string, o: DirectSignerOptions): S3Client {
  // The SDK warns once per process that its releases of 2027 will need Node 22: about a future
  // upgrade of the dependency, not this process (the lock file pins the version that runs here).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    endpoint,
    region: o.region,
    forcePathStyle: true,
    credentials: { accessKeyId: o.accessKey, secretAccessKey: o.secretKey },
    // Checksums the SDK would add by default (CRC32 headers) are not something a client sends.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

function checkExpiry(seconds: number): void {
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_EXPIRY_SECONDS)
    throw new RangeError(`expirySeconds must be between 1 and ${MAX_EXPIRY_SECONDS}`);
}

export class DirectSigner {
  private readonly signer: S3Client;
  private readonly control: S3Client;

  constructor(
    private readonly options: DirectSignerOptions,
    /** minio-js client for the public endpoint (POST policies). */
    private readonly postSigner: Client,
  ) {
    this.signer = s3Client(options.publicEndpoint, options);
    this.control = s3Client(options.endpoint, options);
  }

  async presignPart(key: string, uploadId: string, partNumber: number, size: number, expirySeconds: number) {
    checkUploadId(uploadId);
    checkPartNumber(partNumber);
    checkExpiry(expirySeconds);
    if (!Number.isSafeInteger(size) || size < 1 || size > S3_MAX_SINGLE_PUT)
      throw new KilnError('invalid_input', `a part has 1 byte to 5 GiB (got ${size})`);
    const command = new UploadPartCommand({
      Bucket: this.options.bucket,
      Key: key,
      UploadId: uploadId,
      PartNumber: partNumber,
      ContentLength: size,
    });
    return getSignedUrl(this.signer, command, {
      expiresIn: expirySeconds,
      signableHeaders: new Set(['content-length']),
    });
  }

  async presignPost(key: string, options: PresignPostOptions): Promise<PresignedPost> {
    checkExpiry(options.expirySeconds);
    if (!Number.isSafeInteger(options.size) || options.size < 0 || options.size > S3_MAX_SINGLE_PUT)
      throw new KilnError('invalid_input', `a form upload has at most 5 GiB (got ${options.size})`);
    const expires = new Date(Date.now() + options.expirySeconds * 1000);
    const policy = this.postSigner.newPostPolicy();
    policy.setBucket(this.options.bucket);
    policy.setKey(key);
    policy.setContentLengthRange(options.size, options.size);
    policy.setExpires(expires);
    if (options.contentType) policy.setContentType(options.contentType);
    const signed = await this.postSigner.presignedPostPolicy(policy);
    return {
      url: signed.postURL,
      fields: { ...(signed.formData as Record<string, string>) },
      expiresAt: Math.floor(expires.getTime() / 1000),
    };
  }

  async putBucketCors(origins: string[]): Promise<void> {
    await this.control.send(
      new PutBucketCorsCommand({
        Bucket: this.options.bucket,
        CORSConfiguration: {
          CORSRules: [
            {
              AllowedOrigins: origins,
              AllowedMethods: ['GET', 'PUT', 'POST', 'HEAD'],
              AllowedHeaders: ['*'],
              ExposeHeaders: ['ETag'],
              MaxAgeSeconds: 3600,
            },
          ],
        },
      }),
    );
  }
}
