import type { MinioObjectStoreOptions } from '../minio-object-store';

/**
 * The adapter's options from S3_* variables, as tests get them from `scripts/s3-local.sh` (the apps
 * read one validated configuration instead: objectStoreFromConfig). The caller passes its environment.
 */
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
