export * from './worker-app';
export * from './worker-http';
