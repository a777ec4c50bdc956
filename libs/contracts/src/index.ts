export * from './errors';
export * from './status';
export * from './queues';
export * from './catalog';
export * from './api-views';
export * from './byte-size';
export * from './sse-parser';
export * from './filename';
