// Case 2, gateway memory under many uploads at once: BENCH_MEMORY_CHUNKS (default 50) chunks of
// 16 MiB of one upload session all in flight at once (50 connections), peak RSS (VmHWM) of the
// gateway, against the tus peer's peak with as many 16 MiB tus uploads at once. (The gateway's peak
// during the 1 GiB upload is a row of the upload case.)
import http from 'node:http';
import {
  BenchStack,
  MiB,
  envNumber,
  expectStatus,
  memoryOf,
  nowMs,
  progress,
  quiesce,
  randomFile,
  resetPeakMemory,
  rotate,
  send,
  sendFile,
  sendJson,
} from '../bench-kit';
import { bucketStore } from '../s3';
import type { BenchCase } from './case';
import { startTusPeer, tusUpload } from './tus';
import { settleUpload } from './upload';

const CHUNK = 16 * MiB;

export const memoryCase: BenchCase = {
  name: 'memory',
  summary:
    'gateway peak RSS with 50 chunks of 16 MiB in flight at once, vs the tus peer with 50 uploads of 16 MiB at once',
  async run(ctx, emit) {
    const n = Math.round(envNumber('BENCH_MEMORY_CHUNKS', 50));
    const file = await randomFile(`payload-${CHUNK}.bin`, CHUNK);
    const store = await bucketStore(ctx, ctx.bucket);
    const stack = new BenchStack(ctx, 'memory');
    const peer = await startTusPeer(ctx, 'memory');
    const agent = new http.Agent({ keepAlive: true, maxSockets: n });
    const kiln: { peak: number; idle: number; seconds: number; refused: string[] }[] = [];
    const tus: { peak: number; idle: number; seconds: number }[] = [];
    try {
      const gateway = await stack.startApp('api-gateway', 'gateway');
      await stack.startApp('assembler', 'assembler');
      for (let run = 0; run < ctx.runs; run++) {
        for (const variant of rotate(['kiln', 'tus'] as const, run)) {
          await quiesce();
          if (variant === 'kiln') {
            const idle = (await memoryOf(gateway.pid)).now;
            await resetPeakMemory(gateway.pid);
            const size = n * CHUNK;
            const t0 = nowMs();
            const created = expectStatus(
              await sendJson(
                `${stack.gatewayUrl}/v1/uploads`,
                'POST',
                stack.auth,
                { filename: 'many.bin', size },
                agent,
              ),
              [201],
              'POST /v1/uploads',
            );
            const { id } = JSON.parse(created.text) as { id: string };
            // Every chunk at once: each request streams the same 16 MiB file into its own range.
            // A refused chunk is recorded (the peak still counts: every byte was sent), not fatal.
            const answers = await Promise.all(
              Array.from({ length: n }, (_, i) => {
                const start = i * CHUNK;
                return sendFile(
                  `${stack.gatewayUrl}/v1/uploads/${id}`,
                  'PUT',
                  { ...stack.auth, 'Content-Range': `bytes ${start}-${start + CHUNK - 1}/${size}` },
                  file,
                  0,
                  CHUNK - 1,
                  agent,
                );
              }),
            );
            const refused = answers.filter((a) => a.status !== 201 && a.status !== 202);
            kiln.push({
              peak: (await memoryOf(gateway.pid)).peak / MiB,
              idle: idle / MiB,
              seconds: (nowMs() - t0) / 1000,
              refused: refused.map((a) => `${a.status} ${a.text.slice(0, 160)}`),
            });
            if (refused.length === 0) await settleUpload(stack, store, id, agent);
            else {
              progress(
                `memory: ${refused.length} of ${n} chunks refused (first: ${refused[0].status} ${refused[0].text.slice(0, 200)})`,
              );
              await send(`${stack.gatewayUrl}/v1/uploads/${id}`, 'DELETE', stack.auth, undefined, agent);
            }
          } else {
            const idle = (await memoryOf(peer.pid)).now;
            await resetPeakMemory(peer.pid);
            const t0 = nowMs();
            const urls = await Promise.all(Array.from({ length: n }, () => tusUpload(peer.url, file, CHUNK)));
            tus.push({ peak: (await memoryOf(peer.pid)).peak / MiB, idle: idle / MiB, seconds: (nowMs() - t0) / 1000 });
            for (const u of urls) await peer.remove(u);
          }
        }
        progress(
          `memory run ${run + 1}/${ctx.runs}: gateway peak ${kiln[run].peak.toFixed(0)} MiB (idle ${kiln[run].idle.toFixed(0)}), tus peer peak ${tus[run].peak.toFixed(0)} MiB (idle ${tus[run].idle.toFixed(0)})`,
        );
      }
    } finally {
      agent.destroy();
      await peer.stop();
      await stack.stop();
    }
    emit({
      case: 'memory',
      id: 'memory.concurrent',
      title: `Gateway peak RSS, ${n} × 16 MiB chunks in flight`,
      kiln: { label: 'gateway VmHWM', unit: 'MiB', samples: kiln.map((k) => k.peak) },
      baseline: {
        label: `tus peer VmHWM, ${n} × 16 MiB uploads at once`,
        unit: 'MiB',
        samples: tus.map((t) => t.peak),
      },
      ratio: { samples: kiln.map((k, i) => k.peak / tus[i].peak), meaning: 'Kiln / peer' },
      target: { on: 'kiln', op: '<', value: 250 },
      notes: [
        `One upload session of ${n} × 16 MiB, all ${n} PUTs started at once on ${n} connections (KILN_MAX_CONCURRENT_UPLOADS_PER_KEY raised to 256 for the suite so none is refused).`,
        `Idle RSS right before each run: gateway ${kiln.map((k) => k.idle.toFixed(0)).join(', ')} MiB; peer ${tus.map((t) => t.idle.toFixed(0)).join(', ')} MiB. Peak reset per run with clear_refs.`,
        `Wall time of the burst: Kiln ${kiln.map((k) => k.seconds.toFixed(1)).join(', ')} s; peer ${tus.map((t) => t.seconds.toFixed(1)).join(', ')} s.`,
        kiln.some((k) => k.refused.length)
          ? `Chunks the gateway refused, per run: ${kiln.map((k) => k.refused.length).join(', ')} of ${n}; first answers: ${[...new Set(kiln.flatMap((k) => k.refused))].slice(0, 3).join(' | ')}.`
          : `Every chunk was accepted (201/202) in every run.`,
      ],
      extra: { kiln, tus },
    });
  },
};
