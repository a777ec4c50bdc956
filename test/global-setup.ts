// Prepares what integration and e2e tests share: S3 settings from the local radosgw
// (scripts/s3-local.sh writes .kiln/s3/s3.env), and a freshly migrated template database
// that each test file clones (libs/database/src/testing).
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { migrate } from '../libs/database/src/migrator';
import { TEMPLATE_DB, adminUrl, databaseUrl } from '../libs/database/src/testing/test-database';

export default async function globalSetup(): Promise<void> {
  const envFile = path.resolve(__dirname, '../.kiln/s3/s3.env');
  if (!process.env.S3_ENDPOINT && existsSync(envFile)) {
    for (const line of readFileSync(envFile, 'utf8').split('\n')) {
      const m = /^(?:export\s+)?([A-Z0-9_]+)=(.*)$/.exec(line.trim());
      if (m) process.env[m[1]] = m[2].replace(/^["']|["']$/g, '');
    }
  }
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    // Clones left behind by an interrupted run.
    const { rows } = await admin.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'kiln_t\\_%'");
    for (const r of rows) await admin.query(`DROP DATABASE IF EXISTS "${r.datname}" WITH (FORCE)`);
    await admin.query(`DROP DATABASE IF EXISTS "${TEMPLATE_DB}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${TEMPLATE_DB}"`);
  } finally {
    await admin.end();
  }
  await migrate(databaseUrl(TEMPLATE_DB));
}
