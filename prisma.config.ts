// Prisma CLI configuration (Prisma 7 reads the connection URL here, not from schema.prisma).
// `prisma generate` needs no database; `prisma migrate deploy` on a machine with the schema
// engine applies the same SQL files that scripts/migrate.mjs applies.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/kiln' },
});
