export * from './object-store';
export * from './minio-object-store';
