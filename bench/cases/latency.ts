// Case 5, small-job latency: BENCH_SMALL_JOBS (default 200) jobs one after another, each a 2 KiB PNG
// → jpg (job created with an upload input and a callback; then the whole file uploaded; the time
// is upload start → callback arrival). Baseline: the converter's very ffmpeg command for that file,
// run bare, once after each job (interleaved). The PNG is converted by libvips in the converter
// process (the vips engine); the bare ffmpeg run is what the same job cost before. Kiln's p50
// target: < 50 ms; p99 reported. Where the
// time goes comes from BullMQ's timestamps of each job's convert, finalize and callback units.
import http from 'node:http';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  BenchStack,
  CallbackReceiver,
  cpuDelta,
  cpuSecondsOf,
  cpuTreeOf,
  envNumber,
  machineBusySeconds,
  median,
  percentile,
  progress,
  quiesce,
  servicesCpu,
} from '../bench-kit';
import { createJob, summarizeTimelines, timelines, uploadAndWait, type JobClock } from '../jobs';
import { bareCommand, smallPng, timeFfmpeg, timeProbe } from '../media';
import type { BenchCase } from './case';

export const latencyCase: BenchCase = {
  name: 'latency',
  summary: 'small-job latency: 2 KiB PNG → jpg, 200 jobs in a row, upload start → callback (p50, p99) vs bare ffmpeg',
  async run(ctx, emit) {
    const jobs = Math.round(envNumber('BENCH_SMALL_JOBS', 200));
    const png = await smallPng();
    const bytes = await readFile(png);
    const receiver = await new CallbackReceiver().start();
    const stack = new BenchStack(ctx, 'latency');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const runs: {
      kiln: number[];
      bare: number[];
      probe: number[];
      clocks: JobClock[];
      cpuMsPerJob: Record<string, number>;
    }[] = [];
    try {
      const gateway = await stack.startApp('api-gateway', 'gateway');
      const converter = await stack.startApp('converter', 'converter');
      const cmd = await bareCommand(png, 'jpg', stack.env);
      // Warm-up (not measured): the first job pays for connections, JIT and ffmpeg's page cache.
      for (let i = 0; i < 5; i++) {
        const job = await createJob(stack, 'jpg', receiver.url, agent);
        await uploadAndWait(stack, receiver, job.id, { name: path.basename(png), bytes }, 'image/png', agent);
        await timeFfmpeg(cmd.args);
      }
      for (let run = 0; run < ctx.runs; run++) {
        await quiesce();
        const r = {
          kiln: [] as number[],
          bare: [] as number[],
          probe: [] as number[],
          clocks: [] as JobClock[],
          cpuMsPerJob: {} as Record<string, number>,
        };
        const snap = async () => ({
          machine: await machineBusySeconds(),
          gateway: await cpuSecondsOf(gateway.pid),
          converter: await cpuTreeOf(converter.pid),
          svc: await servicesCpu(),
          bench: await cpuTreeOf(process.pid),
        });
        const c0 = await snap();
        for (let i = 0; i < jobs; i++) {
          const job = await createJob(stack, 'jpg', receiver.url, agent);
          const clock = await uploadAndWait(
            stack,
            receiver,
            job.id,
            { name: path.basename(png), bytes },
            'image/png',
            agent,
          );
          r.kiln.push(clock.arrival.epochMs - clock.uploadStart);
          r.clocks.push(clock);
          receiver.forget(job.id);
          r.bare.push(await timeFfmpeg(cmd.args));
          if (i % 4 === 0) r.probe.push(await timeProbe(png));
        }
        const c1 = await snap();
        const svc = cpuDelta(c0.svc, c1.svc);
        const per = (x: number) => Math.round((x / jobs) * 1000);
        const known = {
          gateway: c1.gateway - c0.gateway,
          converter: c1.converter.self - c0.converter.self,
          'converter ffmpeg+ffprobe': c1.converter.children - c0.converter.children,
          'S3 server': svc.s3,
          PostgreSQL: svc.postgres,
          Redis: svc.redis,
          'benchmark client': c1.bench.self - c0.bench.self,
          'baseline ffmpeg+ffprobe runs': c1.bench.children - c0.bench.children,
        };
        const machine = c1.machine - c0.machine;
        r.cpuMsPerJob = {
          machine: per(machine),
          ...Object.fromEntries(Object.entries(known).map(([k, v]) => [k, per(v)])),
          'processes outside the benchmark (shared machine)': per(
            machine - Object.values(known).reduce((a, b) => a + b, 0),
          ),
        };
        runs.push(r);
        progress(
          `latency run ${run + 1}/${ctx.runs}: Kiln p50 ${median(r.kiln).toFixed(0)} ms, p99 ${percentile(r.kiln, 99).toFixed(0)} ms; bare ffmpeg p50 ${median(r.bare).toFixed(0)} ms; ffprobe p50 ${median(r.probe).toFixed(0)} ms`,
        );
      }
      await rm(cmd.dir, { recursive: true, force: true });
      const lines = await timelines(
        stack,
        runs.flatMap((r) => r.clocks),
      );
      const summary = summarizeTimelines(lines);
      const p50 = runs.map((r) => median(r.kiln));
      const p99 = runs.map((r) => percentile(r.kiln, 99));
      const bareP50 = runs.map((r) => median(r.bare));
      const bareP99 = runs.map((r) => percentile(r.bare, 99));
      const path_ = `Where Kiln's time goes, medians over ${summary.jobs} jobs (ms): ${Object.entries(summary.steps)
        .map(([k, v]) => `${k}: ${v}`)
        .join(
          '; ',
        )}. Reference, bare: ffmpeg p50 ${median(bareP50).toFixed(0)} ms, ffprobe p50 ${median(runs.flatMap((r) => r.probe)).toFixed(0)} ms (which the converter runs only for inputs it cannot describe from their header).`;
      emit({
        case: 'latency',
        id: 'latency.p50',
        title: `Small job 2 KiB PNG → jpg, p50 (${jobs} jobs in a row)`,
        kiln: { label: 'Kiln p50: upload start → callback', unit: 'ms', samples: p50 },
        baseline: { label: 'bare ffmpeg p50', unit: 'ms', samples: bareP50 },
        ratio: { samples: p50.map((k, i) => k / bareP50[i]), meaning: 'Kiln / bare' },
        target: { on: 'kiln', op: '<', value: 50 },
        notes: [
          `Input ${bytes.length} bytes (testsrc2 96×96 PNG). One gateway, one converter (KILN_CONVERTER_CONCURRENCY=1); jobs strictly one after another; a bare run of the converter's ffmpeg command after each job; 5 unmeasured warm-up jobs.`,
          `Command: ffmpeg ${cmd.args.join(' ')}`,
          path_,
          `Machine CPU per job (core·ms, every process, the baseline runs included), per run: ${runs
            .map((r) =>
              Object.entries(r.cpuMsPerJob)
                .map(([k, v]) => `${k} ${v}`)
                .join(', '),
            )
            .join(' | ')}.`,
        ],
        extra: {
          per_run: runs.map((r) => ({
            kiln_ms: r.kiln,
            bare_ms: r.bare,
            probe_ms: r.probe,
            cpu_ms_per_job: r.cpuMsPerJob,
          })),
          path: summary,
        },
      });
      emit({
        case: 'latency',
        id: 'latency.p99',
        title: 'Small job 2 KiB PNG → jpg, p99',
        kiln: { label: 'Kiln p99', unit: 'ms', samples: p99 },
        baseline: { label: 'bare ffmpeg p99', unit: 'ms', samples: bareP99 },
        ratio: { samples: p99.map((k, i) => k / bareP99[i]), meaning: 'Kiln / bare' },
        target: null,
        notes: [],
      });
    } finally {
      agent.destroy();
      await stack.stop();
      await receiver.stop();
    }
  },
};
