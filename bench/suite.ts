// `npm run bench [-- case ...]` (or BENCH_CASES=a,b): runs the selected cases of the suite, each
// BENCH_RUNS times (default 3) with Kiln and its baseline interleaved, and writes
// bench/results/<YYYY-MM-DD>.json (every sample, machine info) and .md (the table). A subset of the
// cases writes <date>-<case>[-<case>…].json/.md instead, so a quick check never replaces a full run.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  ROOT,
  TMP_DIR,
  commandOutput,
  envNumber,
  machineInfo,
  progress,
  suiteDatabase,
  type SuiteContext,
} from './bench-kit';
import type { BenchCase } from './cases/case';
import { assemblyCase } from './cases/assembly';
import { conversionCase } from './cases/conversion';
import { directCase } from './cases/direct';
import { documentCase } from './cases/document';
import { latencyCase } from './cases/latency';
import { memoryCase } from './cases/memory';
import { queueCase } from './cases/queue';
import { scalingCase } from './cases/scaling';
import { uploadCase } from './cases/upload';
import { abortIncompleteUploads, removeCaseObjects } from './s3';
import { consoleTable, verdict, writeReport, type Report, type Row } from './report';

const CASES: BenchCase[] = [
  uploadCase,
  directCase,
  memoryCase,
  assemblyCase,
  conversionCase,
  latencyCase,
  scalingCase,
  documentCase,
  queueCase,
];

function selectCases(argv: string[]): BenchCase[] {
  const names = [...argv, ...(process.env.BENCH_CASES ?? '').split(/[\s,]+/)].map((s) => s.trim()).filter(Boolean);
  if (names.length === 0 || names.includes('all')) return CASES;
  const unknown = names.filter((n) => !CASES.some((c) => c.name === n));
  if (unknown.length)
    throw new Error(`unknown case(s) ${unknown.join(', ')}; cases: ${CASES.map((c) => c.name).join(', ')}`);
  return CASES.filter((c) => names.includes(c.name));
}

function need(name: string): string {
  const v = process.env[name];
  if (!v)
    throw new Error(
      `${name} is not set: run the suite through npm run bench (scripts/bench.sh starts the local S3 server)`,
    );
  return v;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      `npm run bench [-- <case> ...]   (or BENCH_CASES=a,b; BENCH_RUNS=3)\n${CASES.map((c) => `  ${c.name.padEnd(11)} ${c.summary}`).join('\n')}\n`,
    );
    return;
  }
  const selected = selectCases(argv);
  const runs = Math.round(envNumber('BENCH_RUNS', 3));
  const startedAt = new Date();
  const date = startedAt.toISOString().slice(0, 10);
  const full = selected.length === CASES.length;
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const db = await suiteDatabase();
  const ctx: SuiteContext = {
    runs,
    databaseUrl: db.url,
    s3: {
      endpoint: need('S3_ENDPOINT'),
      accessKey: need('S3_ACCESS_KEY'),
      secretKey: need('S3_SECRET_KEY'),
      region: process.env.S3_REGION ?? 'us-east-1',
    },
    bucket: process.env.BENCH_BUCKET ?? 'kiln-bench',
    logDir: path.join(TMP_DIR, 'logs', `${stamp}-${randomBytes(2).toString('hex')}`),
  };
  const report: Report = {
    date,
    started_at: startedAt.toISOString(),
    settings: {
      cases: selected.map((c) => c.name),
      runs,
      ...Object.fromEntries(
        Object.entries(process.env).filter(
          ([k]) => k.startsWith('BENCH_') && k !== 'BENCH_CASES' && k !== 'BENCH_RUNS',
        ),
      ),
      s3_endpoint: ctx.s3.endpoint,
      ...(full ? {} : { file_suffix: `-${selected.map((c) => c.name).join('-')}` }),
    },
    machine: {
      ...machineInfo(),
      ffmpeg: (await commandOutput('ffmpeg', ['-hide_banner', '-version'])).split('\n')[0],
      redis: (await commandOutput('redis-cli', ['INFO', 'server'])).match(/redis_version:(\S+)/)?.[1] ?? 'unknown',
      s3_server: (await commandOutput('radosgw', ['--version'])).split('\n')[0] || 'unknown',
      git_commit: (await commandOutput('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])).trim(),
      // The build measured is the working tree: uncommitted changes to tracked files are listed.
      git_uncommitted: (await commandOutput('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no']))
        .split('\n')
        .map((l) => l.slice(3))
        .filter(Boolean),
    },
    cases: [],
    rows: [],
  };
  const resultsDir = path.join(ROOT, 'bench/results');
  await mkdir(ctx.logDir, { recursive: true });
  progress(
    `cases: ${selected.map((c) => c.name).join(', ')}; ${runs} runs each; logs in ${path.relative(ROOT, ctx.logDir)}`,
  );
  let failures = 0;
  try {
    for (const c of selected) {
      const t0 = Date.now();
      progress(`— ${c.name}: ${c.summary}`);
      const record = { case: c.name, started_at: new Date().toISOString(), seconds: 0 } as Report['cases'][number];
      report.cases.push(record);
      try {
        await c.run(ctx, (row: Row) => {
          report.rows.push(row);
          progress(`${row.id}: ${verdict(row)}`);
        });
      } catch (err: unknown) {
        failures++;
        record.error = err instanceof Error ? err.message : String(err);
        progress(`${c.name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
      // What the case left in S3 (job files, chunks, unfinished multipart uploads) goes before the next one.
      await removeCaseObjects(ctx).catch(() => undefined);
      await abortIncompleteUploads(ctx, `${ctx.bucket}-tus`).catch(() => undefined);
      record.seconds = (Date.now() - t0) / 1000;
      progress(`${c.name} took ${record.seconds.toFixed(0)} s`);
      report.machine_end = { load_average: machineInfo().load_average };
      report.finished_at = new Date().toISOString();
      await writeReport(resultsDir, report); // after every case: a late failure keeps the earlier rows
    }
  } finally {
    await db.drop().catch(() => undefined);
  }
  const files = await writeReport(resultsDir, report);
  process.stdout.write(
    `\n${consoleTable(report.rows)}\n\nwritten: ${path.relative(ROOT, files.md)}, ${path.relative(ROOT, files.json)}\n`,
  );
  if (failures) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
