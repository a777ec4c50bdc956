// Prepares what integration and e2e tests share: S3 settings from the local radosgw
// (scripts/s3-local.sh writes its s3.env), and a migrated template database that each test file
// clones (libs/database/src/testing). Runs in parallel (another checkout, CI) never touch each
// other: the template is named after the migrations it holds and is never dropped while in use,
// and only clones left behind for hours are removed.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { migrate } from '../libs/database/src/migrator';
import {
  STALE_CLONE_SECONDS,
  adminUrl,
  cloneAgeSeconds,
  databaseUrl,
  templateName,
} from '../libs/database/src/testing/test-database';

export default async function globalSetup(): Promise<void> {
  const envFile = path.resolve(__dirname, '../.kiln/s3/s3.env');
  if (!process.env.S3_ENDPOINT && existsSync(envFile)) {
    for (const line of readFileSync(envFile, 'utf8').split('\n')) {
      const m = /^(?:export\s+)?([A-Z0-9_]+)=(.*)$/.exec(line.trim());
      if (m) process.env[m[1]] = m[2].replace(/^["']|["']$/g, '');
    }
  }
  const template = await templateName();
  process.env.KILN_TEST_TEMPLATE_DB = template;
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query('SELECT pg_advisory_lock(72707370)');
    const { rows } = await admin.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'kiln\\_t\\_%'",
    );
    for (const r of rows) {
      const age = cloneAgeSeconds(r.datname);
      if (age !== null && age > STALE_CLONE_SECONDS)
        await admin.query(`DROP DATABASE IF EXISTS "${r.datname}" WITH (FORCE)`);
    }
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
    if (!exists.rowCount) {
      const building = `${template}_building`;
      await admin.query(`DROP DATABASE IF EXISTS "${building}"`);
      await admin.query(`CREATE DATABASE "${building}"`);
      await migrate(databaseUrl(building));
      await admin.query(`ALTER DATABASE "${building}" RENAME TO "${template}"`);
    }
  } finally {
    await admin.query('SELECT pg_advisory_unlock(72707370)').catch(() => undefined);
    await admin.end();
  }
}
