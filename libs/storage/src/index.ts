export * from './object-store';
export * from './minio-object-store';
export { S3RequestError } from './s3-errors';
export * from './from-config';
export * from './object-keys';
