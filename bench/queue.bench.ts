// `npm run bench:queue`: the hand-off rate of the `convert` queue (jobs/s from the first add until
// the last job is done) through Kiln's own QueueProducer + WorkerHost with a no-op handler, against
// bare BullMQ (Queue.addBulk + a Worker with an empty processor) in the same run, same Redis, same
// concurrency. Also one row for what a Kiln job really costs in Redis: a flow (finalize parent + one
// convert child) per job. Several rounds, order alternated; median, spread, ratio.
import { randomBytes, randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import type { PayloadOf } from '../libs/contracts/src';
import { QueueProducer, WorkerHost, createRedis, type JobHandler } from '../libs/queue/src';
import { median } from './bench-kit';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const JOBS = Number(process.env.KILN_BENCH_JOBS ?? 10_000);
const ROUNDS = Number(process.env.KILN_BENCH_ROUNDS ?? 5);
const CONCURRENCY = Number(process.env.KILN_BENCH_CONCURRENCY ?? 50);
/** Jobs added per batch (Kiln: that many `enqueue` calls in flight; bare: one addBulk). */
const BATCH = 1_000;

interface Result {
  /** Jobs per second, first add → last job done. */
  rate: number;
  /** Seconds spent adding. */
  addS: number;
}

type Variant = 'bare' | 'kiln' | 'kiln-flow';

function unit(): PayloadOf<'convert'> {
  return { jobId: randomUUID(), inputId: randomUUID(), conversionId: randomUUID(), outputId: randomUUID() };
}

const range = (xs: number[], digits: number) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;

async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((r) => setTimeout(r, 2));
}

/** Waits until no job is waiting, prioritized or active any more (the last completions recorded). */
async function drained(queues: Queue[]): Promise<void> {
  for (;;) {
    const counts = await Promise.all(queues.map((q) => q.getJobCounts('wait', 'prioritized', 'active', 'waiting-children')));
    if (counts.every((c) => !c.wait && !c.prioritized && !c.active && !c['waiting-children'])) return;
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function bare(prefix: string): Promise<Result> {
  const producer = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const consumer = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('convert', { connection: producer, prefix });
  let handled = 0;
  const worker = new Worker('convert', async () => void handled++, { connection: consumer, prefix, concurrency: CONCURRENCY });
  await worker.waitUntilReady();
  await queue.waitUntilReady();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < JOBS; i += BATCH) {
    const n = Math.min(BATCH, JOBS - i);
    await queue.addBulk(Array.from({ length: n }, () => {
      const data = unit();
      return { name: 'convert', data, opts: { jobId: `convert.${data.outputId}` } };
    }));
  }
  const addS = Number(process.hrtime.bigint() - t0) / 1e9;
  await until(() => handled >= JOBS);
  await drained([queue]);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  producer.disconnect();
  consumer.disconnect();
  return { rate: JOBS / s, addS };
}

async function kiln(prefix: string, flows: boolean): Promise<Result> {
  // As the apps wire it (libs/worker-runtime): a producer connection that fails fast, a worker
  // connection that waits through reconnects, and one JSON log line per handled job (to /dev/null).
  const producerRedis = createRedis(REDIS_URL, 'producer');
  const workerRedis = createRedis(REDIS_URL, 'worker');
  const producer = new QueueProducer(producerRedis, prefix);
  let handled = 0;
  const convert: JobHandler<'convert'> = { queue: 'convert', handle: async () => ({ status: 'success' }) };
  const finalize: JobHandler<'finalize'> = {
    queue: 'finalize',
    handle: async () => {
      handled++;
      return { status: 'success' };
    },
  };
  const counting: JobHandler<'convert'> = {
    queue: 'convert',
    handle: async () => {
      handled++;
      return { status: 'success' };
    },
  };
  const log = pino({ level: 'info', base: { app: 'bench' } }, pino.destination({ dest: '/dev/null', sync: false }));
  const host = new WorkerHost(flows ? [convert, finalize] : [counting], {
    connection: workerRedis,
    prefix,
    consumes: flows ? { convert: { concurrency: CONCURRENCY }, finalize: { concurrency: CONCURRENCY } } : { convert: { concurrency: CONCURRENCY } },
    log,
  });
  await host.start();
  await producer.queue('convert').waitUntilReady();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < JOBS; i += BATCH) {
    const n = Math.min(BATCH, JOBS - i);
    await Promise.all(
      Array.from({ length: n }, () => {
        const u = unit();
        return flows ? producer.enqueueConversionFlow(u.jobId, [u]) : producer.enqueue('convert', u);
      }),
    );
  }
  const addS = Number(process.hrtime.bigint() - t0) / 1e9;
  await until(() => handled >= JOBS);
  await drained(flows ? [producer.queue('convert'), producer.queue('finalize')] : [producer.queue('convert')]);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  await host.close(5_000);
  for (const q of flows ? ['convert', 'finalize'] as const : ['convert'] as const) await producer.queue(q).obliterate({ force: true });
  await producer.close();
  producerRedis.disconnect();
  workerRedis.disconnect();
  return { rate: JOBS / s, addS };
}

async function run(variant: Variant): Promise<Result> {
  const prefix = `kiln-bench-q-${randomBytes(4).toString('hex')}`;
  if (variant === 'bare') return bare(prefix);
  return kiln(prefix, variant === 'kiln-flow');
}

async function main(): Promise<void> {
  const results: Record<Variant, Result[]> = { bare: [], kiln: [], 'kiln-flow': [] };
  const order: Variant[] = ['bare', 'kiln', 'kiln-flow'];
  // One unmeasured warm-up of each (JIT, Lua script loading).
  for (const v of order) await run(v);
  for (let round = 1; round <= ROUNDS; round++) {
    const now = round % 2 ? order : [...order].reverse();
    const line: string[] = [];
    for (const v of now) {
      const r = await run(v);
      results[v].push(r);
      line.push(`${v} ${r.rate.toFixed(0)}/s`);
    }
    console.log(`round ${round}: ${line.join(', ')}`);
  }
  const rates = (v: Variant) => results[v].map((r) => r.rate);
  const ratio = (v: Variant) => results[v].map((r, i) => r.rate / results.bare[i].rate);
  const row = (label: string, v: Variant, note: string) =>
    `  ${label.padEnd(44)} ${median(rates(v)).toFixed(0).padStart(6)} jobs/s  (${range(rates(v), 0).padEnd(11)})  ${v === 'bare' ? '—'.padEnd(16) : `${median(ratio(v)).toFixed(2)} (${range(ratio(v), 2)})`}  add ${median(results[v].map((r) => r.addS)).toFixed(2)} s  ${note}`;
  console.log(`\nqueue hand-off (${JOBS} jobs per run, worker concurrency ${CONCURRENCY}, ${ROUNDS} rounds, Redis ${REDIS_URL})`);
  console.log(`  ${'case'.padEnd(44)} ${'median'.padStart(13)}  ${'spread'.padEnd(13)}  ratio to bare`);
  console.log(row('bare BullMQ: Queue.addBulk + Worker', 'bare', ''));
  console.log(row('Kiln: QueueProducer.enqueue + WorkerHost', 'kiln', 'convert unit, no-op handler, JSON log line per job'));
  console.log(row('Kiln job: flow (finalize + 1 convert)', 'kiln-flow', 'enqueueConversionFlow; rate in whole jobs'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
