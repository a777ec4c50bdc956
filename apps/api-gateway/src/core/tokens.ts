export const PRISMA = Symbol('Prisma');
export const REDIS = Symbol('Redis');
export const LOGGER = Symbol('Logger');
export { KILN_CONFIG } from '@kiln/config';
export { OBJECT_STORE } from '@kiln/storage';
