export * from './worker-app';
export * from './worker-http';
export * from './cancel-signals';
