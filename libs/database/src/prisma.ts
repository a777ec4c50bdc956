import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/client';

export { Prisma, PrismaClient } from './generated/client';
export type { CallbackDelivery, Conversion, Input, Job, Output, Preset, Upload, UploadChunk } from './generated/client';

export interface DatabaseOptions {
  url: string;
  /** Connections in the pool of this process. */
  poolSize?: number;
  /** Called with every SQL statement the client sends (Prisma's query events): counting round trips. */
  onQuery?: (sql: string) => void;
}

/** The Prisma 7 client over node-postgres (driver adapter; no native engine). */
export function createPrismaClient(options: DatabaseOptions): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  if (!options.onQuery) return new PrismaClient({ adapter });
  const onQuery = options.onQuery;
  const client = new PrismaClient({ adapter, log: [{ emit: 'event', level: 'query' }] });
  client.$on('query', (e) => onQuery(e.query));
  return client;
}

/** Nest injection token of the process's PrismaClient (built once by the core providers). */
export const PRISMA = Symbol('Prisma');
