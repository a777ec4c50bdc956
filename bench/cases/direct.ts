// Case `direct`: uploads whose bytes skip the gateway, and tus parallel uploads.
// (a) A Kiln direct upload session (POST /v1/uploads with mode "direct": the gateway creates the S3
//     multipart upload and signs one URL per 16 MiB part; the client PUTs the parts straight into S3,
//     8 in flight) against raw presigned UploadPart of the same ranges into one multipart upload, with
//     no Kiln at all. Both are timed from the start (session / CreateMultipartUpload) to the last part;
//     the completion is Kiln's assembly in one case and not timed in either. Target ratio ≥ 0.95, and
//     the gateway's CPU per GiB (printed) near zero.
// (b) tus-js-client with `parallelUploads: 4` into Kiln's tus endpoint (concatenation extension)
//     against @tus/server + @tus/s3-store (no concatenation: one stream), 16 MiB PATCHes. Target ≥ 3×.
// The gateway's peak RSS is read during each Kiln run (target < 150 MiB).
import http from 'node:http';
import {
  BenchStack,
  MiB,
  cpuSplitOf,
  envNumber,
  expectStatus,
  median,
  memoryOf,
  nowMs,
  pool,
  progress,
  quiesce,
  randomFile,
  resetPeakMemory,
  rotate,
  sendFile,
  sendJson,
} from '../bench-kit';
import type { Row } from '../report';
import { bucketStore } from '../s3';
import type { BenchCase } from './case';
import { startTusPeer, tusUpload } from './tus';
import { directMultipartUpload, settleUpload } from './upload';

const PART = 16 * MiB;
const STREAMS = 8;
const TUS_PARALLEL = 4;

type Variant = 'kiln-direct' | 'raw-multipart' | 'kiln-tus' | 'peer-tus';

interface Sample {
  seconds: number;
  busyBefore: number;
  /** Gateway CPU seconds (user + system) during the run; Kiln runs only. */
  cpuS?: number;
  /** Gateway peak RSS during the run (MiB); Kiln runs only. */
  peakMiB?: number;
}

interface SignedPart {
  part_number: number;
  url: string;
  size: number;
}

/** Kiln direct session: create, sign every part (batches of 100), PUT them straight into S3, 8 in flight. */
async function kilnDirectUpload(
  stack: BenchStack,
  file: string,
  size: number,
  agent: http.Agent,
): Promise<{ id: string; seconds: number }> {
  const t0 = nowMs();
  const created = expectStatus(
    await sendJson(
      `${stack.gatewayUrl}/v1/uploads`,
      'POST',
      stack.auth,
      { filename: 'bench.bin', size, mode: 'direct', transfer: 'multipart', part_size: PART },
      agent,
    ),
    [201],
    'POST /v1/uploads (direct)',
  );
  const session = JSON.parse(created.text) as { id: string; part_count: number; part_size: number };
  const numbers = Array.from({ length: session.part_count }, (_, i) => i + 1);
  const signed: SignedPart[] = [];
  for (let i = 0; i < numbers.length; i += 100) {
    const r = expectStatus(
      await sendJson(
        `${stack.gatewayUrl}/v1/uploads/${session.id}/parts`,
        'POST',
        stack.auth,
        { part_numbers: numbers.slice(i, i + 100) },
        agent,
      ),
      [200],
      'POST /v1/uploads/{id}/parts',
    );
    signed.push(...(JSON.parse(r.text) as { parts: SignedPart[] }).parts);
  }
  await pool(signed, STREAMS, async (part) => {
    const start = (part.part_number - 1) * session.part_size;
    expectStatus(
      await sendFile(part.url, 'PUT', {}, file, start, start + part.size - 1, agent),
      [200],
      `PUT part ${part.part_number}`,
    );
  });
  const seconds = (nowMs() - t0) / 1000;
  expectStatus(
    await sendJson(`${stack.gatewayUrl}/v1/uploads/${session.id}/complete`, 'POST', stack.auth, {}, agent),
    [200],
    'POST /v1/uploads/{id}/complete',
  );
  return { id: session.id, seconds };
}

export const directCase: BenchCase = {
  name: 'direct',
  summary:
    'uploads that skip the gateway: Kiln direct session vs raw presigned UploadPart; tus parallelUploads 4 vs @tus/server',
  async run(ctx, emit) {
    const size = Math.round(envNumber('BENCH_UPLOAD_MIB', 1024) * MiB);
    progress(`direct: preparing a ${size / MiB} MiB random file`);
    const file = await randomFile(`payload-${size}.bin`, size);
    const store = await bucketStore(ctx, ctx.bucket);
    const stack = new BenchStack(ctx, 'direct', { KILN_DIRECT_UPLOADS: 'true' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: STREAMS * 2 });
    const peer = await startTusPeer(ctx, 'direct');
    const samples: Record<Variant, Sample[]> = {
      'kiln-direct': [],
      'raw-multipart': [],
      'kiln-tus': [],
      'peer-tus': [],
    };
    try {
      const gateway = await stack.startApp('api-gateway', 'gateway');
      await stack.startApp('assembler', 'assembler');
      const measured = async <T>(work: () => Promise<T>): Promise<{ value: T; cpuS: number; peakMiB: number }> => {
        await resetPeakMemory(gateway.pid);
        const cpu0 = await cpuSplitOf(gateway.pid);
        const value = await work();
        const cpu1 = await cpuSplitOf(gateway.pid);
        return {
          value,
          cpuS: cpu1.user + cpu1.system - cpu0.user - cpu0.system,
          peakMiB: (await memoryOf(gateway.pid)).peak / MiB,
        };
      };
      for (let run = 0; run < ctx.runs; run++) {
        for (const variant of rotate<Variant>(['kiln-direct', 'raw-multipart', 'kiln-tus', 'peer-tus'], run)) {
          const busyBefore = await quiesce();
          if (variant === 'raw-multipart') {
            const key = `bench/raw-multipart-${Date.now()}`;
            const seconds = await directMultipartUpload(ctx, key, file, size, agent);
            samples[variant].push({ seconds, busyBefore });
            await store.remove(key);
          } else if (variant === 'kiln-direct') {
            const m = await measured(() => kilnDirectUpload(stack, file, size, agent));
            samples[variant].push({ seconds: m.value.seconds, busyBefore, cpuS: m.cpuS, peakMiB: m.peakMiB });
            await settleUpload(stack, store, m.value.id, agent);
          } else if (variant === 'kiln-tus') {
            const m = await measured(async () => {
              const t0 = nowMs();
              const url = await tusUpload(`${stack.gatewayUrl}/v1/tus/`, file, PART, {
                headers: stack.auth,
                parallelUploads: TUS_PARALLEL,
              });
              return { url, seconds: (nowMs() - t0) / 1000 };
            });
            samples[variant].push({ seconds: m.value.seconds, busyBefore, cpuS: m.cpuS, peakMiB: m.peakMiB });
            await settleUpload(stack, store, m.value.url.split('/').pop()!, agent);
          } else {
            const t0 = nowMs();
            const url = await tusUpload(peer.url, file, PART);
            samples[variant].push({ seconds: (nowMs() - t0) / 1000, busyBefore });
            await peer.remove(url);
          }
        }
        const mbps = (v: Variant) => (size / 1e6 / samples[v][run].seconds).toFixed(1);
        progress(
          `direct run ${run + 1}/${ctx.runs}: kiln direct ${mbps('kiln-direct')} MB/s, raw multipart ${mbps('raw-multipart')} MB/s, kiln tus ×${TUS_PARALLEL} ${mbps('kiln-tus')} MB/s, @tus/server ${mbps('peer-tus')} MB/s`,
        );
      }
    } finally {
      agent.destroy();
      await peer.stop();
      await stack.stop();
    }

    const gib = size / 1024 ** 3;
    const rate = (v: Variant) => samples[v].map((s) => size / 1e6 / s.seconds);
    const perRun = (v: Variant, f: (s: Sample) => number | undefined, digits: number) =>
      samples[v].map((s) => f(s)?.toFixed(digits)).join(', ');
    const busy = `Machine CPU busy share just before each run (noise indicator): ${(Object.keys(samples) as Variant[])
      .map((v) => `${v} ${perRun(v, (s) => s.busyBefore, 2)}`)
      .join('; ')}.`;
    const row = (
      id: string,
      title: string,
      kiln: Variant,
      kilnLabel: string,
      base: Variant,
      baseLabel: string,
      target: number,
      notes: string[],
    ): Row => ({
      case: 'direct',
      id,
      title,
      kiln: { label: kilnLabel, unit: 'MB/s', samples: rate(kiln) },
      baseline: { label: baseLabel, unit: 'MB/s', samples: rate(base) },
      ratio: { samples: rate(kiln).map((k, i) => k / rate(base)[i]), meaning: 'Kiln / baseline' },
      target: { on: 'ratio', op: '>=', value: target },
      notes,
    });
    emit(
      row(
        'direct.vs-raw-multipart',
        `Direct upload ${size / MiB} MiB, 16 MiB parts, 8 in flight`,
        'kiln-direct',
        'Kiln direct session (signed part URLs)',
        'raw-multipart',
        'raw presigned UploadPart, one multipart upload',
        0.95,
        [
          `${Math.ceil(size / PART)} parts of 16 MiB, streamed from disk; Kiln timed from POST /v1/uploads (session + S3 multipart creation + part signing) to the last part, the raw baseline from CreateMultipartUpload to the last part; neither completion is timed.`,
          `Gateway CPU per GiB during the Kiln direct runs: ${perRun('kiln-direct', (s) => s.cpuS! / gib, 3)} core·s (the bytes never reach it).`,
          busy,
        ],
      ),
    );
    emit(
      row(
        'direct.tus-parallel',
        `tus ${size / MiB} MiB, parallelUploads ${TUS_PARALLEL} vs @tus/server`,
        'kiln-tus',
        `Kiln tus, tus-js-client parallelUploads ${TUS_PARALLEL}`,
        'peer-tus',
        '@tus/server 2.4.5 + s3-store 2.0.7, 1 stream',
        3,
        [
          `tus-js-client 4.3.1, chunkSize 16 MiB on both sides; Kiln's final upload is assembled by the assembler after the run (not timed). The peer's S3 store has no concatenation extension, so it runs one stream.`,
          `Gateway CPU per GiB during the Kiln tus runs: ${perRun('kiln-tus', (s) => s.cpuS! / gib, 2)} core·s.`,
        ],
      ),
    );
    for (const [v, label] of [
      ['kiln-direct', 'direct session'],
      ['kiln-tus', `tus parallelUploads ${TUS_PARALLEL}`],
    ] as const) {
      const peaks = samples[v].map((s) => s.peakMiB!);
      emit({
        case: 'direct',
        id: `direct.peak-${v}`,
        title: `Gateway peak RSS during the ${label} upload`,
        kiln: { label: 'gateway VmHWM', unit: 'MiB', samples: peaks },
        baseline: { label: 'none', unit: 'MiB', samples: peaks },
        ratio: { samples: peaks.map(() => 1), meaning: 'no baseline' },
        target: { on: 'kiln', op: '<', value: 150 },
        notes: [`Peak reset before each run (clear_refs). Median ${median(peaks).toFixed(0)} MiB.`],
      });
    }
  },
};
