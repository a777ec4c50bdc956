// The suite's own PostgreSQL database (fresh and migrated) and its activity counters.
import { randomBytes } from 'node:crypto';
import { Client as PgClient } from 'pg';
import { ensureDatabase, migrate } from '../libs/database/src/migrator';
import { sleep } from './run-environment';

/** A database of the suite's own (fresh, migrated), dropped at the end unless BENCH_DATABASE_URL names one. */
export async function suiteDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  if (process.env.BENCH_DATABASE_URL) {
    await ensureDatabase(process.env.BENCH_DATABASE_URL);
    await migrate(process.env.BENCH_DATABASE_URL);
    return { url: process.env.BENCH_DATABASE_URL, drop: async () => undefined };
  }
  const admin = new URL(process.env.KILN_TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres');
  admin.pathname = '/postgres';
  const name = `kiln_bench_${Math.floor(Date.now() / 1000).toString(36)}_${randomBytes(3).toString('hex')}`;
  const url = new URL(admin.toString());
  url.pathname = `/${name}`;
  await ensureDatabase(url.toString());
  await migrate(url.toString());
  return {
    url: url.toString(),
    async drop() {
      const c = new PgClient({ connectionString: admin.toString() });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * PostgreSQL's counters for one database (pg_stat_database): transactions (each statement outside an
 * explicit transaction counts as one) and rows read and written. Read twice around a run, after
 * waiting for the server to publish its pending counters (it does so about once a second).
 */
export async function databaseCounters(
  url: string,
): Promise<{ transactions: number; rowsRead: number; rowsWritten: number }> {
  await sleep(1_100);
  const c = new PgClient({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ x: string; r: string; w: string }>(
      'SELECT xact_commit + xact_rollback AS x, tup_returned + tup_fetched AS r, tup_inserted + tup_updated + tup_deleted AS w FROM pg_stat_database WHERE datname = current_database()',
    );
    return { transactions: Number(rows[0].x), rowsRead: Number(rows[0].r), rowsWritten: Number(rows[0].w) };
  } finally {
    await c.end();
  }
}
