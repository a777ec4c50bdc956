export * from './prisma';
export * from './migrator';
