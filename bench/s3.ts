// The suite's own S3 access (the same server the apps use): presigned PUTs for the direct baseline,
// bucket creation and cleanup.
import { Client } from 'minio';
import { MinioObjectStore } from '../libs/storage/src/minio-object-store';
import type { SuiteContext } from './bench-kit';

export function s3Client(ctx: SuiteContext): Client {
  const u = new URL(ctx.s3.endpoint);
  return new Client({
    endPoint: u.hostname,
    port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
    useSSL: u.protocol === 'https:',
    accessKey: ctx.s3.accessKey,
    secretKey: ctx.s3.secretKey,
    region: ctx.s3.region,
  });
}

/** An object store on `bucket` (created when missing), for cleanup between runs. */
export async function bucketStore(ctx: SuiteContext, bucket: string): Promise<MinioObjectStore> {
  const store = new MinioObjectStore({
    endpoint: ctx.s3.endpoint,
    accessKey: ctx.s3.accessKey,
    secretKey: ctx.s3.secretKey,
    region: ctx.s3.region,
    bucket,
  });
  await store.ensureBucket();
  return store;
}

/** Aborts the multipart uploads left unfinished in `bucket` (their parts hold storage until then). */
export async function abortIncompleteUploads(ctx: SuiteContext, bucket: string): Promise<number> {
  const s3 = s3Client(ctx);
  const keys = new Set<string>();
  for await (const item of s3.listIncompleteUploads(bucket, '', true) as AsyncIterable<{ key: string }>)
    keys.add(item.key);
  for (const key of keys) await s3.removeIncompleteUpload(bucket, key).catch(() => undefined);
  return keys.size;
}

/** Removes what a case left in the suite's bucket: job inputs and outputs, chunks, assembled uploads, unfinished multipart uploads. */
export async function removeCaseObjects(ctx: SuiteContext): Promise<void> {
  const store = await bucketStore(ctx, ctx.bucket);
  for (const prefix of ['inputs/', 'outputs/', 'chunks/', 'uploads/', 'bench/'])
    await store.removePrefix(prefix).catch(() => undefined);
  await abortIncompleteUploads(ctx, ctx.bucket).catch(() => undefined);
}
