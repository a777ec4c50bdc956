import type { KilnConfig } from '@kiln/config';
import { MinioObjectStore } from './minio-object-store';
import { setRelayCollection } from './relay-collection';

/** The S3 adapter as the apps configure it; the bucket is created when missing. */
export async function objectStoreFromConfig(config: KilnConfig): Promise<MinioObjectStore> {
  setRelayCollection(config.KILN_RELAY_GC_BYTES);
  const store = new MinioObjectStore({
    endpoint: config.S3_ENDPOINT,
    publicEndpoint: config.S3_PUBLIC_ENDPOINT,
    directEndpoint: config.KILN_S3_PUBLIC_URL,
    accessKey: config.S3_ACCESS_KEY,
    secretKey: config.S3_SECRET_KEY,
    bucket: config.S3_BUCKET,
    region: config.S3_REGION,
    partSize: config.S3_PART_SIZE,
  });
  await store.ensureBucket();
  return store;
}
