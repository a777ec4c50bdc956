// Case 6b, queue hand-off: the rate of the `convert` queue (jobs/s from the first add until the
// last job is done) through Kiln's own QueueProducer + WorkerHost with a no-op handler, against bare
// BullMQ (Queue.addBulk + a Worker with an empty processor) in the same run, same Redis, same
// concurrency. Also what a Kiln job really costs in Redis: a flow (finalize parent + one convert
// child) per job. One unmeasured warm-up of each, then BENCH_RUNS rounds in alternating order.
import { randomBytes, randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import type { PayloadOf } from '../../libs/contracts/src';
import { QueueProducer, WorkerHost, createRedis, type JobHandler } from '../../libs/queue/src';
import { envNumber, median, progress, removeRedisPrefix, rotate } from '../bench-kit';
import type { BenchCase } from './case';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const JOBS = Math.round(envNumber('BENCH_QUEUE_JOBS', 10_000));
const CONCURRENCY = Math.round(envNumber('BENCH_QUEUE_CONCURRENCY', 50));
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

async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((r) => setTimeout(r, 2));
}

/** Waits until no job is waiting, prioritized or active any more (the last completions recorded). */
async function drained(queues: Queue[]): Promise<void> {
  for (;;) {
    const counts = await Promise.all(
      queues.map((q) => q.getJobCounts('wait', 'prioritized', 'active', 'waiting-children')),
    );
    if (counts.every((c) => !c.wait && !c.prioritized && !c.active && !c['waiting-children'])) return;
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function bare(prefix: string): Promise<Result> {
  const producer = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const consumer = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('convert', { connection: producer, prefix });
  let handled = 0;
  const worker = new Worker('convert', async () => void handled++, {
    connection: consumer,
    prefix,
    concurrency: CONCURRENCY,
  });
  await worker.waitUntilReady();
  await queue.waitUntilReady();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < JOBS; i += BATCH) {
    const n = Math.min(BATCH, JOBS - i);
    await queue.addBulk(
      Array.from({ length: n }, () => {
        const data = unit();
        return { name: 'convert', data, opts: { jobId: `convert.${data.outputId}` } };
      }),
    );
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
    consumes: flows
      ? { convert: { concurrency: CONCURRENCY }, finalize: { concurrency: CONCURRENCY } }
      : { convert: { concurrency: CONCURRENCY } },
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
  for (const q of flows ? (['convert', 'finalize'] as const) : (['convert'] as const))
    await producer.queue(q).obliterate({ force: true });
  await producer.close();
  producerRedis.disconnect();
  workerRedis.disconnect();
  return { rate: JOBS / s, addS };
}

async function run(variant: Variant): Promise<Result> {
  const prefix = `kiln-bench-q-${randomBytes(4).toString('hex')}`;
  try {
    if (variant === 'bare') return await bare(prefix);
    return await kiln(prefix, variant === 'kiln-flow');
  } finally {
    await removeRedisPrefix(prefix).catch(() => undefined);
  }
}

export const queueCase: BenchCase = {
  name: 'queue',
  summary:
    'queue hand-off: convert queue with a no-op handler, Kiln QueueProducer + WorkerHost vs bare BullMQ (10,000 jobs)',
  async run(ctx, emit) {
    const results: Record<Variant, Result[]> = { bare: [], kiln: [], 'kiln-flow': [] };
    const order: Variant[] = ['bare', 'kiln', 'kiln-flow'];
    for (const v of order) await run(v); // warm-up: JIT, Lua script loading
    for (let round = 0; round < ctx.runs; round++) {
      const line: string[] = [];
      for (const v of rotate(order, round)) {
        const r = await run(v);
        results[v].push(r);
        line.push(`${v} ${r.rate.toFixed(0)}/s`);
      }
      progress(`queue run ${round + 1}/${ctx.runs}: ${line.join(', ')}`);
    }
    const rates = (v: Variant) => results[v].map((r) => r.rate);
    const base = { label: 'bare BullMQ: Queue.addBulk + Worker', unit: 'jobs/s', samples: rates('bare') };
    const common = `${JOBS} jobs per run, worker concurrency ${CONCURRENCY}, Redis ${REDIS_URL}; adding in batches of ${BATCH}. Median time spent adding: bare ${median(results.bare.map((r) => r.addS)).toFixed(2)} s, Kiln ${median(results.kiln.map((r) => r.addS)).toFixed(2)} s, flows ${median(results['kiln-flow'].map((r) => r.addS)).toFixed(2)} s.`;
    emit({
      case: 'queue',
      id: 'queue.handoff',
      title: 'Queue hand-off, convert queue, no-op handler',
      kiln: { label: 'Kiln QueueProducer.enqueue + WorkerHost', unit: 'jobs/s', samples: rates('kiln') },
      baseline: base,
      ratio: { samples: rates('kiln').map((k, i) => k / rates('bare')[i]), meaning: 'Kiln / bare' },
      target: null,
      notes: [common, 'Kiln writes one JSON log line per handled job (to /dev/null here), as the apps do.'],
    });
    emit({
      case: 'queue',
      id: 'queue.flow',
      title: 'Queue hand-off, a whole Kiln job (flow: finalize + 1 convert)',
      kiln: { label: 'Kiln enqueueConversionFlow, rate in whole jobs', unit: 'jobs/s', samples: rates('kiln-flow') },
      baseline: base,
      ratio: { samples: rates('kiln-flow').map((k, i) => k / rates('bare')[i]), meaning: 'Kiln flow / bare' },
      target: null,
      notes: [
        'Each Kiln job is a BullMQ flow (a finalize parent and its convert children): two jobs and the parent/child bookkeeping per job.',
      ],
    });
  },
};
