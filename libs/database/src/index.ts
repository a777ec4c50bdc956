export * from './prisma';
export * from './migrator';
export * from './api-keys';
export * from './idempotency-store';
