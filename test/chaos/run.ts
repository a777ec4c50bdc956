// `npm run chaos`: an isolated stack (its own Redis without persistence, PostgreSQL behind a TCP
// proxy, S3 behind a fault proxy, 2 gateways, 1 assembler, 2 converters) takes a steady stream of
// small audio, video and image jobs (some uploaded in chunks) while every fault is injected several
// times: Redis SIGKILLed and restarted empty, PostgreSQL cut, S3 answering 503 or dropping
// connections, a converter SIGKILLed inside ffmpeg, a gateway SIGKILLed with a chunk on the wire,
// a cancel interrupted by S3 deletions failing. Then it waits until nothing moves and reports, per
// fault, what became of the jobs in flight, from the database, the bucket listing and the callback
// receiver: bench/results/<date>-chaos.{md,json}. Run by scripts/chaos.sh.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'pg';
import { adminUrl } from '../../libs/database/src/testing/test-database';
import { makeAudio, makeImage, makeTempDir, makeVideo } from '../../libs/media/src/testing';
import { MinioObjectStore } from '../../libs/storage/src/minio-object-store';
import { CallbackReceiver } from '../callback-receiver';
import globalSetup from '../global-setup';
import { RedisServer } from '../redis-server';
import { S3FaultProxy } from '../s3-fault-proxy';
import { Stack, freePort, sleep } from '../stack';
import { TcpProxy } from '../tcp-proxy';
import { ChaosClient, type Payload, type SubmittedJob } from './client';
import { FAULTS, type ChaosRig, type Injection, inject } from './faults';
import { auditJobs, judge } from './ledger-audit';
import { repairsOf } from './repairs';
import { type ChaosReport, type JobResult, consoleTable, rows, writeReport } from './report';
import { untilNothingMoves } from './settle';

const ROOT = path.resolve(__dirname, '../..');
const ROUNDS = Number(process.env.CHAOS_ROUNDS ?? 3);
const MIN_JOBS = Number(process.env.CHAOS_MIN_JOBS ?? 60);
const MAX_JOBS = Number(process.env.CHAOS_MAX_JOBS ?? 150);
/** Jobs kept open (submitted, not ended) while the faults run. */
const BACKLOG = Number(process.env.CHAOS_BACKLOG ?? 8);
/** At most one job submitted every this many ms. */
const PACE_MS = Number(process.env.CHAOS_PACE_MS ?? 400);
const GAP_MS = 4_000;
const SETTINGS = {
  KILN_RECONCILE_INTERVAL_MS: '1000',
  KILN_RECONCILE_GRACE_MS: '5000',
  // A SIGKILLed converter's unit is taken over once its queue lock lapses (default 60 s).
  KILN_CONVERT_LOCK_SECONDS: '15',
};

const log = (msg: string) => console.log(`[chaos ${new Date().toISOString().slice(11, 19)}] ${msg}`);

async function media(dir: string): Promise<{ mix: Payload[]; cancelTarget: Payload }> {
  const at = (n: string) => path.join(dir, n);
  const wav = await readFile(await makeAudio({ path: at('tone.wav'), seconds: 3, format: 'wav' }));
  const png = await readFile(await makeImage({ path: at('frame.png'), width: 640, height: 480 }));
  const clip = await readFile(
    await makeVideo({ path: at('clip.mp4'), seconds: 4, width: 480, height: 270, audio: true }),
  );
  const long = await readFile(
    await makeVideo({ path: at('long.mp4'), seconds: 12, width: 640, height: 360, audio: true }),
  );
  return {
    mix: [
      { kind: 'audio', filename: 'tone.wav', bytes: wav, target: 'mp3' },
      { kind: 'image', filename: 'frame.png', bytes: png, target: 'jpg' },
      { kind: 'video chunked', filename: 'clip.mp4', bytes: clip, target: 'mp4', chunkBytes: 96 * 1024 },
      { kind: 'audio chunked', filename: 'tone.wav', bytes: wav, target: 'ogg', chunkBytes: 128 * 1024 },
      { kind: 'video', filename: 'clip.mp4', bytes: clip, target: 'mp4' },
      { kind: 'image', filename: 'frame.png', bytes: png, target: 'webp' },
    ],
    cancelTarget: { kind: 'cancel target', filename: 'long.mp4', bytes: long, target: 'mp4' },
  };
}

function commit(): string {
  const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter(Boolean).length;
  return dirty ? `${head} (+${dirty} uncommitted file(s) in the tree the apps were built from)` : head;
}

async function main(): Promise<void> {
  const started = new Date();
  const s3Endpoint = process.env.S3_ENDPOINT;
  if (!s3Endpoint) throw new Error('S3_ENDPOINT is not set: run through scripts/chaos.sh (npm run chaos)');
  await globalSetup();
  const tmp = await makeTempDir('kiln-chaos-');
  const { mix, cancelTarget } = await media(tmp.dir);
  const upstream = new URL(adminUrl());
  const redis = await new RedisServer({ appendonly: false }).start();
  const postgres = await new TcpProxy({ host: upstream.hostname, port: Number(upstream.port || 5432) }).start();
  const s3 = await new S3FaultProxy(s3Endpoint).start();
  const receiver = await new CallbackReceiver().start();
  const metricsPort = await freePort();
  const stack = new Stack();
  let db: Client | undefined;
  try {
    await stack.start({
      converters: 2,
      gateways: 2,
      assemblers: 1,
      databaseAddress: { host: postgres.host, port: postgres.port },
      env: { REDIS_URL: redis.url, S3_ENDPOINT: s3.url, ...SETTINGS },
      placement: (app) =>
        app === 'assembler'
          ? { env: { KILN_WORKER_HTTP_PORT: String(metricsPort), KILN_HOST: '127.0.0.1' } }
          : undefined,
    });
    db = new Client({ connectionString: stack.db.url }); // direct, not through the proxy
    db.on('error', () => undefined);
    await db.connect();
    log(
      `stack up: 2 gateways, 1 assembler, 2 converters; Redis :${redis.port}, PostgreSQL via :${postgres.port}, S3 via ${s3.url}`,
    );
    const client = new ChaosClient(stack, db, receiver.url);
    const submitted: SubmittedJob[] = [];
    const creationsLost: string[] = [];
    const pending: Promise<unknown>[] = [];
    const submit = (p: Payload) => {
      const job = client.submit(p);
      pending.push(job.then((j) => submitted.push(j)).catch((err: unknown) => creationsLost.push(String(err))));
      return job;
    };
    let stop = false;
    let count = 0;
    // A backlog is kept: whenever fewer than BACKLOG submitted jobs are still open, one more is sent
    // (so every fault meets queued, converting and finishing work), at most one per PACE_MS.
    const workload = (async () => {
      while ((!stop || count < MIN_JOBS) && count < MAX_JOBS) {
        const { rows } = await db!.query<{ n: number }>(
          `SELECT COUNT(*)::int AS n FROM jobs WHERE id = ANY($1::uuid[]) AND status NOT IN ('completed', 'failed', 'canceled')`,
          [submitted.map((j) => j.id)],
        );
        const submitting = count - submitted.length - creationsLost.length;
        if (rows[0].n + submitting < BACKLOG) {
          void submit(mix[count % mix.length]);
          count++;
        }
        await sleep(PACE_MS);
      }
    })();
    const rig: ChaosRig = {
      stack,
      redis,
      postgres,
      s3,
      client,
      db,
      submitCancelTarget: async () => {
        const job = await submit(cancelTarget);
        return job;
      },
    };
    await sleep(10_000); // some work in every state before the first fault
    const injections: Injection[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const fault of FAULTS) {
        const i = await inject(rig, fault, round);
        injections.push(i);
        log(`${fault} #${round}: ${i.detail}`);
        await sleep(GAP_MS);
      }
    }
    stop = true;
    await workload;
    await Promise.all(pending);
    log(
      `${submitted.length} jobs submitted (${creationsLost.length} given up by the client); waiting until nothing moves`,
    );
    const ids = submitted.map((j) => j.id);
    const settled = await untilNothingMoves(db, redis.url, stack.env.KILN_QUEUE_PREFIX, ids, receiver, log);
    log(settled);

    const store = new MinioObjectStore({
      endpoint: s3Endpoint,
      accessKey: stack.env.S3_ACCESS_KEY,
      secretKey: stack.env.S3_SECRET_KEY,
      bucket: stack.env.S3_BUCKET,
    });
    const ledgers = new Map((await auditJobs(db, store, receiver, ids)).map((l) => [l.id, l]));
    const finished = new Map(
      (
        await db.query<{ id: string; at: Date | null }>(
          'SELECT id, finished_at AS at FROM jobs WHERE id = ANY($1::uuid[])',
          [ids],
        )
      ).rows.map((r) => [r.id, r.at?.getTime()]),
    );
    const results: JobResult[] = submitted.map((job) => {
      const ledger = ledgers.get(job.id);
      return { job, ledger, judgement: ledger && judge(ledger), finishedAt: finished.get(job.id) };
    });
    const table = rows(results, injections, FAULTS);
    const strangers = (
      await db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM jobs WHERE NOT (id = ANY($1::uuid[]))', [ids])
    ).rows[0].n;
    const report: ChaosReport = {
      startedAt: started.toISOString(),
      durationS: Math.round((Date.now() - started.getTime()) / 1000),
      commit: commit(),
      settings: { ...SETTINGS, rounds: ROUNDS, jobs: submitted.length, backlog: BACKLOG, converters: 2, gateways: 2 },
      table,
      injections,
      repairs: await repairsOf([`http://127.0.0.1:${metricsPort}`]),
      settled,
      problems: results
        .filter((r) => !r.judgement || r.judgement.problems.length || r.job.gaveUp)
        .map((r) => ({
          id: r.job.id,
          kind: r.job.kind,
          status: r.ledger?.status ?? 'unknown',
          problems: [
            ...(r.judgement?.problems ?? ['not in the database']),
            ...(r.judgement?.strays ?? []).map((key) => strayWhen(key, r.ledger!.outputWrittenAt[key], injections)),
          ],
          gaveUp: r.job.gaveUp,
        })),
      jobs: results.map((r) => ({
        id: r.job.id,
        kind: r.job.kind,
        chunked: r.job.chunked,
        status: r.ledger?.status ?? 'unknown',
        unitAttempts: r.ledger?.units.map((u) => u.attempt) ?? [],
        errors: r.ledger?.errors.map((e) => `${e.code}: ${e.message}`) ?? [],
        retries: r.job.retries,
      })),
    };
    const notes = [
      `${creationsLost.length} submission(s) the client gave up on: ${creationsLost.join('; ') || 'none'}.`,
      `${strangers} job(s) in the database the client never learned of (a creation whose answer was lost and not adopted).`,
      `Unit claims per job (1 = converted once): ${JSON.stringify(countBy(report.jobs.flatMap((j) => j.unitAttempts)))}.`,
      `${receiver.received.length} callback POSTs received in all.`,
    ];
    const file = await writeReport(ROOT, report, notes);
    console.log(`\n${consoleTable(table)}\n`);
    for (const n of notes) console.log(n);
    for (const p of report.problems) console.log(`problem: ${JSON.stringify(p)}`);
    log(`written ${path.relative(ROOT, file)} (+ .json)`);
    const bad = table.at(-1)!;
    process.exitCode = bad.stuck || bad.duplicatedOutputs || bad.duplicateCallbacks ? 1 : 0;
  } finally {
    await db?.end().catch(() => undefined);
    await stack.stop().catch(() => undefined);
    await receiver.stop().catch(() => undefined);
    await s3.stop().catch(() => undefined);
    await postgres.stop().catch(() => undefined);
    await redis.destroy().catch(() => undefined);
    await tmp.remove().catch(() => undefined);
  }
}

/** When a stray output object was written, against the injections: the one it fell in, or the last before it. */
function strayWhen(key: string, at: number | undefined, injections: Injection[]): string {
  if (at === undefined) return `${key}: written at an unknown time`;
  const time = new Date(at).toISOString().slice(11, 19);
  const during = injections.find((i) => at >= i.startedAt && at <= i.endedAt);
  if (during) return `${key} written ${time}, during ${during.fault} #${during.round}`;
  const before = injections.filter((i) => i.endedAt < at).at(-1);
  return before
    ? `${key} written ${time}, ${((at - before.endedAt) / 1000).toFixed(1)} s after ${before.fault} #${before.round} ended`
    : `${key} written ${time}, before the first fault`;
}

function countBy(values: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(2);
});
