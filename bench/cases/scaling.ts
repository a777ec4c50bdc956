// Case 6a, throughput and scaling: BENCH_SCALING_JOBS (default 100) small image jobs (2 KiB PNG →
// jpg) submitted at once, with 1 converter and with 2 converters (KILN_CONVERTER_CONCURRENCY=1
// each), runs alternating. Throughput = jobs / (first upload start → last callback). Target: the
// 2-converter throughput ≥ 1.8 × the 1-converter one.
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  BenchStack,
  CallbackReceiver,
  cpuSecondsOf,
  cpuTreeOf,
  envNumber,
  logLines,
  machineBusySeconds,
  nowMs,
  pool,
  progress,
  quiesce,
  rotate,
  servicesCpu,
  cpuDelta,
  type BenchApp,
} from '../bench-kit';
import { createJob, summarizeTimelines, timelines, uploadAndWait, type JobClock } from '../jobs';
import { smallPng } from '../media';
import type { BenchCase } from './case';

interface Sample {
  converters: number;
  seconds: number;
  rate: number;
  /** Convert units handled by each converter. */
  shares: number[];
  /** Machine busy share over the run (all cores). */
  busy: number;
  /** core·s over the run: machine, gateway, converters (own), their ffmpeg/ffprobe children. */
  cpu: {
    machine: number;
    gateway: number;
    converters: number;
    children: number;
    s3: number;
    postgres: number;
    redis: number;
    client: number;
  };
  clocks: JobClock[];
}

export const scalingCase: BenchCase = {
  name: 'scaling',
  summary: 'throughput and scaling: 100 small image jobs with 1 vs 2 converters (concurrency 1 each)',
  async run(ctx, emit) {
    const jobs = Math.round(envNumber('BENCH_SCALING_JOBS', 100));
    const png = await smallPng();
    const bytes = await readFile(png);
    const receiver = await new CallbackReceiver().start();
    const stack = new BenchStack(ctx, 'scaling', { KILN_CONVERTER_CONCURRENCY: '1' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const samples: Sample[] = [];
    try {
      const gateway = await stack.startApp('api-gateway', 'gateway');
      for (let run = 0; run < ctx.runs; run++) {
        for (const n of rotate([1, 2], run)) {
          const converters: BenchApp[] = [];
          for (let i = 0; i < n; i++) converters.push(await stack.startApp('converter', `r${run + 1}-c${n}-${i + 1}`));
          // Jobs created first (not timed): the measured part is upload → callback of all of them.
          const created: string[] = [];
          await pool(
            [...Array(jobs).keys()],
            8,
            async () => void created.push((await createJob(stack, 'jpg', receiver.url, agent)).id),
          );
          await quiesce();
          const cpu0 = {
            machine: await machineBusySeconds(),
            gateway: await cpuSecondsOf(gateway.pid),
            conv: await Promise.all(converters.map((c) => cpuTreeOf(c.pid))),
            svc: await servicesCpu(),
            client: process.cpuUsage(),
          };
          const wall0 = nowMs();
          const clocks: JobClock[] = [];
          await pool(
            created,
            8,
            async (id) =>
              void clocks.push(
                await uploadAndWait(stack, receiver, id, { name: path.basename(png), bytes }, 'image/png', agent),
              ),
          );
          const seconds = (Math.max(...clocks.map((c) => c.arrival.at)) - wall0) / 1000;
          const conv1 = await Promise.all(converters.map((c) => cpuTreeOf(c.pid)));
          const machine = (await machineBusySeconds()) - cpu0.machine;
          const svc = cpuDelta(cpu0.svc, await servicesCpu());
          const client = process.cpuUsage(cpu0.client);
          const cpu = {
            ...svc,
            client: (client.user + client.system) / 1e6,
            machine,
            gateway: (await cpuSecondsOf(gateway.pid)) - cpu0.gateway,
            converters: conv1.reduce((a, c, i) => a + c.self - cpu0.conv[i].self, 0),
            children: conv1.reduce((a, c, i) => a + c.children - cpu0.conv[i].children, 0),
          };
          for (const c of converters) await stack.stopApp(c);
          const shares = await Promise.all(
            converters.map(
              async (c) =>
                (await logLines(c.logFile, 'job handled')).filter((l: { queue?: string }) =>
                  l.queue?.startsWith('convert'),
                ).length,
            ),
          );
          samples.push({
            converters: n,
            seconds,
            rate: jobs / seconds,
            shares,
            busy: machine / seconds / 2,
            cpu,
            clocks,
          });
          for (const id of created) receiver.forget(id);
          progress(
            `scaling run ${run + 1}/${ctx.runs}, ${n} converter(s): ${(jobs / seconds).toFixed(1)} jobs/s (${seconds.toFixed(1)} s; convert units per converter ${shares.join('/')}; machine busy ${((machine / seconds / 2) * 100).toFixed(0)} % of 2 cores)`,
          );
        }
      }
      const one = samples.filter((s) => s.converters === 1);
      const two = samples.filter((s) => s.converters === 2);
      const ms = (x: number) => ((x / jobs) * 1000).toFixed(0);
      const perJob = (s: Sample) => {
        const c = s.cpu;
        const rest = c.machine - c.gateway - c.converters - c.children - c.s3 - c.postgres - c.redis - c.client;
        return `${ms(c.machine)} ms (gateway ${ms(c.gateway)}, converter ${ms(c.converters)}, its ffmpeg+ffprobe ${ms(c.children)}, S3 server ${ms(c.s3)}, PostgreSQL ${ms(c.postgres)}, Redis ${ms(c.redis)}, benchmark client ${ms(c.client)}, processes outside the benchmark (the machine is shared) ${ms(rest)})`;
      };
      const twoLines = summarizeTimelines(
        await timelines(
          stack,
          two.flatMap((s) => s.clocks),
        ),
      );
      const oneLines = summarizeTimelines(
        await timelines(
          stack,
          one.flatMap((s) => s.clocks),
        ),
      );
      emit({
        case: 'scaling',
        id: 'scaling.converters',
        title: `Throughput, ${jobs} small image jobs: 2 converters vs 1`,
        kiln: { label: '2 converters', unit: 'jobs/s', samples: two.map((s) => s.rate) },
        baseline: { label: '1 converter', unit: 'jobs/s', samples: one.map((s) => s.rate) },
        ratio: { samples: two.map((s, i) => s.rate / one[i].rate), meaning: '2 / 1 converters' },
        target: { on: 'ratio', op: '>=', value: 1.8 },
        notes: [
          `Each converter KILN_CONVERTER_CONCURRENCY=1; ${jobs} jobs created first, then all uploaded (8 at a time) and timed from the first upload to the last callback; runs alternate 1 and 2 converters; converters started fresh for each run.`,
          `Convert units per converter with 2: ${two.map((s) => s.shares.join('/')).join(', ')}.`,
          `Machine CPU busy during the runs (share of 2 cores): 1 converter ${one.map((s) => `${(s.busy * 100).toFixed(0)} %`).join(', ')}; 2 converters ${two.map((s) => `${(s.busy * 100).toFixed(0)} %`).join(', ')}.`,
          `Machine CPU per job (core·ms, all processes), 1 converter: ${one.map(perJob).join('; ')}.`,
          `Machine CPU per job, 2 converters: ${two.map(perJob).join('; ')}. At that cost the 2 cores cap the throughput at about ${two.map((x) => (2 / (x.cpu.machine / jobs)).toFixed(1)).join(', ')} jobs/s.`,
          `Path of a job with 1 converter, medians (ms): ${Object.entries(oneLines.steps)
            .map(([k, v]) => `${k}: ${v}`)
            .join('; ')}.`,
          `Path of a job with 2 converters, medians (ms): ${Object.entries(twoLines.steps)
            .map(([k, v]) => `${k}: ${v}`)
            .join('; ')}.`,
        ],
        extra: { samples: samples.map(({ clocks: _c, ...s }) => s) },
      });
    } finally {
      agent.destroy();
      await stack.stop();
      await receiver.stop();
    }
  },
};
