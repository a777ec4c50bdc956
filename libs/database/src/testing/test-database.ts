import { createHash, randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { listMigrations } from '../migrator';

/** Clones older than this are left over from interrupted runs and may be dropped. */
export const STALE_CLONE_SECONDS = 6 * 3600;

/** The migrated template for this tree's migrations (made by test/global-setup.ts). */
export async function templateName(): Promise<string> {
  if (process.env.KILN_TEST_TEMPLATE_DB) return process.env.KILN_TEST_TEMPLATE_DB;
  const hash = createHash('sha256');
  for (const m of await listMigrations()) hash.update(`${m.name}:${m.checksum}\n`);
  return `kiln_test_tpl_${hash.digest('hex').slice(0, 12)}`;
}

/** Server URL for tests: KILN_TEST_DATABASE_URL's server, else the local trust-auth PostgreSQL. */
export function adminUrl(): string {
  const base = new URL(process.env.KILN_TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres');
  base.pathname = '/postgres';
  return base.toString();
}

export function databaseUrl(name: string): string {
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

/** Seconds since a clone named by createTestDatabase was made; null for other names. */
export function cloneAgeSeconds(name: string): number | null {
  const m = /^kiln_t_([0-9a-z]+)_[0-9a-f]+$/.exec(name);
  if (!m) return null;
  return Math.floor(Date.now() / 1000) - parseInt(m[1], 36);
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh, migrated database of this test file's own. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `kiln_t_${Math.floor(Date.now() / 1000).toString(36)}_${randomBytes(5).toString('hex')}`;
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${await templateName()}"`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: databaseUrl(name),
    async drop() {
      const c = new Client({ connectionString: adminUrl() });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
