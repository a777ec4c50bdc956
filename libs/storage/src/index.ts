export * from './object-store';
export * from './minio-object-store';
export { S3RequestError, isRetryable as isStorageOutage } from './s3-errors';
export * from './from-config';
export * from './object-keys';
export { mapLimit } from './map-limit';
export { relayCollectionActive } from './relay-collection';
