export * from './object-store';
export * from './minio-object-store';
export * from './from-config';
export * from './object-keys';
