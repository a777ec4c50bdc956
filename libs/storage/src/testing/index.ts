export * from './in-memory-object-store';
export * from './object-store.contract';
