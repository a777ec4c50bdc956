export * from './test-database';
export * from './seed';
