// `npm run db:migrate`: creates the database if missing and applies pending migrations.
import { ensureDatabase, migrate } from './migrator';

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    process.stderr.write('invalid configuration: DATABASE_URL: is required\n');
    process.exit(1);
  }
  await ensureDatabase(url);
  const result = await migrate(url);
  const host = new URL(url).host + new URL(url).pathname;
  process.stdout.write(
    `migrations on ${host}: ${result.applied.length} applied${result.applied.length ? ` (${result.applied.join(', ')})` : ''}, ${result.alreadyApplied.length} already applied\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`migration failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
