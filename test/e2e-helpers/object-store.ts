// The S3 bucket of a running test stack, read directly by the e2e tests.
import { MinioObjectStore } from '../../libs/storage/src/minio-object-store';
import type { Stack } from '../stack';

/** An object store on the stack's own bucket, with the stack's credentials. */
export function objectStoreOf(stack: Stack): MinioObjectStore {
  return new MinioObjectStore({
    endpoint: stack.env.S3_ENDPOINT,
    accessKey: stack.env.S3_ACCESS_KEY,
    secretKey: stack.env.S3_SECRET_KEY,
    bucket: stack.env.S3_BUCKET,
  });
}

/** Every object key under a prefix. */
export async function keysUnder(store: MinioObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list(prefix)) keys.push(o.key);
  return keys;
}
