export * from './in-memory-object-store';
export * from './object-store.contract';
export * from './s3-env';
