export * from './connection';
export * from './producer';
export * from './worker-host';
export * from './job-events';
