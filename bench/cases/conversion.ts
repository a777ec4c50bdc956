// Case 4, conversion overhead: a generated BENCH_CLIP_SECONDS (default 30) s 720p30 H.264/AAC clip →
// mp4 end to end through Kiln (upload start → signed callback at a local receiver; one gateway, one
// converter) against the converter's very ffmpeg command (libs/media's builder, the runner's own
// options) run bare on the same file. The converter's real ffmpeg command line is read from /proc
// during each Kiln run and compared with the baseline's.
import http from 'node:http';
import path from 'node:path';
import { rm } from 'node:fs/promises';
import { BenchStack, CallbackReceiver, envNumber, progress, quiesce, rotate } from '../bench-kit';
import { createJob, summarizeTimelines, timelines, uploadAndWait, type Timeline } from '../jobs';
import { bareCommand, clip720p, sameCommand, smallPng, timeFfmpeg, timeProbe, watchFfmpegOf } from '../media';
import type { BenchCase } from './case';

export const conversionCase: BenchCase = {
  name: 'conversion',
  summary:
    'conversion overhead: 30 s 720p H.264 clip → mp4 through Kiln (upload → callback) vs the same ffmpeg command bare',
  async run(ctx, emit) {
    const seconds = Math.round(envNumber('BENCH_CLIP_SECONDS', 30));
    progress(`conversion: generating a ${seconds} s 720p clip (once; kept in bench/results/tmp)`);
    const clip = await clip720p(seconds);
    const receiver = await new CallbackReceiver().start();
    const stack = new BenchStack(ctx, 'conversion');
    const agent = new http.Agent({ keepAlive: true });
    const kiln: number[] = [];
    const bare: number[] = [];
    const lines: Timeline[] = [];
    const checks: { same: boolean; diff: string[] }[] = [];
    /** Inside the convert handler (ms): before ffmpeg (download, hash, ffprobe), ffmpeg, after (store output, record). */
    const inside: { before: number; ffmpeg: number; after: number }[] = [];
    let bareArgs: string[] = [];
    let probeMs = NaN;
    try {
      await stack.startApp('api-gateway', 'gateway');
      const converter = await stack.startApp('converter', 'converter');
      const cmd = await bareCommand(clip, 'mp4', stack.env);
      bareArgs = cmd.args;
      probeMs = await timeProbe(clip);
      // Warm-up (not measured): one small job (connections, the converter's one-time ffmpeg check) and one bare ffmpeg.
      const png = await smallPng();
      const warm = await createJob(stack, 'jpg', receiver.url, agent);
      await uploadAndWait(stack, receiver, warm.id, png, 'image/png', agent);
      const warmCmd = await bareCommand(png, 'jpg', stack.env);
      await timeFfmpeg(warmCmd.args);
      await rm(warmCmd.dir, { recursive: true, force: true });
      for (let run = 0; run < ctx.runs; run++) {
        for (const variant of rotate(['kiln', 'bare'] as const, run)) {
          await quiesce();
          if (variant === 'kiln') {
            const job = await createJob(stack, 'mp4', receiver.url, agent);
            const watch = watchFfmpegOf(converter.pid);
            const clock = await uploadAndWait(stack, receiver, job.id, clip, 'video/mp4', agent);
            watch.stop();
            kiln.push((clock.arrival.epochMs - clock.uploadStart) / 1000);
            const [line] = await timelines(stack, [clock]);
            const seen = await watch.seen;
            if (line) lines.push(line);
            if (seen) {
              const input = seen.args[seen.args.indexOf('-i') + 1] ?? '';
              checks.push(sameCommand(seen.args, path.dirname(input), cmd.args, cmd.dir));
              if (line) {
                const started = clock.uploadStart + line.convert_started;
                const finished = clock.uploadStart + line.convert_finished;
                inside.push({
                  before: seen.startEpochMs - started,
                  ffmpeg: seen.exitEpochMs - seen.startEpochMs,
                  after: finished - seen.exitEpochMs,
                });
              }
            }
          } else {
            bare.push((await timeFfmpeg(cmd.args)) / 1000);
          }
        }
        progress(
          `conversion run ${run + 1}/${ctx.runs}: Kiln ${kiln[run].toFixed(2)} s, bare ffmpeg ${bare[run].toFixed(2)} s, ratio ${(kiln[run] / bare[run]).toFixed(3)}`,
        );
      }
      await rm(cmd.dir, { recursive: true, force: true });
    } finally {
      agent.destroy();
      await stack.stop();
      await receiver.stop();
    }
    const summary = summarizeTimelines(lines);
    const same = checks.length > 0 && checks.every((c) => c.same);
    emit({
      case: 'conversion',
      id: 'conversion.mp4',
      title: `Conversion ${seconds} s 720p H.264 → mp4, end to end`,
      kiln: { label: 'Kiln: upload start → callback', unit: 's', samples: kiln },
      baseline: { label: 'bare ffmpeg, same command', unit: 's', samples: bare },
      ratio: { samples: kiln.map((k, i) => k / bare[i]), meaning: 'Kiln / bare' },
      target: { on: 'ratio', op: '<=', value: 1.1 },
      notes: [
        `Command (from libs/media's builder, the converter's settings): ffmpeg ${bareArgs.join(' ')}`,
        checks.length
          ? `The converter's own ffmpeg command line, read from /proc during each Kiln run, ${same ? "is the same as the baseline's in every run (paths aside)" : `differs: ${checks.flatMap((c) => c.diff).join('; ')}`}.`
          : "The converter's ffmpeg was not caught in /proc (the comparison of the commands is missing).",
        `Kiln's path, medians (ms from upload start): ${Object.entries(summary.steps)
          .map(([k, v]) => `${k}: ${v}`)
          .join('; ')}.`,
        `Inside the convert handler, per run (ms; the converter's ffmpeg timed from /proc): before ffmpeg (download + SHA-256, ffprobe) ${inside.map((x) => x.before.toFixed(0)).join(', ')}; ffmpeg ${inside.map((x) => x.ffmpeg.toFixed(0)).join(', ')} (bare: ${bare.map((b) => (b * 1000).toFixed(0)).join(', ')}); after ffmpeg (store the output, record it) ${inside.map((x) => x.after.toFixed(0)).join(', ')}.`,
        `ffprobe of the clip alone (part of Kiln's path, not of the baseline): ${probeMs.toFixed(0)} ms.`,
      ],
      extra: { timelines: lines, command_checks: checks, inside_convert_handler_ms: inside },
    });
  },
};
