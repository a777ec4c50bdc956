export * from './prisma';
export * from './migrator';
export * from './idempotency-store';
