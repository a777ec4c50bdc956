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
const SIGN_BATCH = 16;

type Variant = 'kiln-direct' | 'raw-multipart' | 'kiln-tus' | 'peer-tus';

interface Sample {
  seconds: number;
  busyBefore: number;
  /** Gateway CPU seconds (user + system) during the run; Kiln runs only. */
  cpuS?: number;
  /** Gateway peak RSS during the run (MiB); Kiln runs only. */
  peakMiB?: number;
  /** Gateway RSS when the run started (MiB); Kiln runs only. */
  startMiB?: number;
}

interface SignedPart {
  part_number: number;
  url: string;
  size: number;
}

/**
 * Kiln direct session: create it, then PUT the parts straight into S3, 8 in flight, their URLs signed
 * by the gateway in batches of 16 as the uploads reach them (as a client pipelines it).
 */
async function kilnDirectUpload(
  gatewayUrl: string,
  auth: Record<string, string>,
  file: string,
  size: number,
  agent: http.Agent,
): Promise<{ id: string; seconds: number }> {
  const t0 = nowMs();
  const created = expectStatus(
    await sendJson(
      `${gatewayUrl}/v1/uploads`,
      'POST',
      auth,
      { filename: 'bench.bin', size, mode: 'direct', transfer: 'multipart', part_size: PART },
      agent,
    ),
    [201],
    'POST /v1/uploads (direct)',
  );
  const session = JSON.parse(created.text) as { id: string; part_count: number; part_size: number };
  const batches = new Map<number, Promise<Map<number, SignedPart>>>();
  const signed = (n: number): Promise<Map<number, SignedPart>> => {
    const batch = Math.floor((n - 1) / SIGN_BATCH);
    let pending = batches.get(batch);
    if (!pending) {
      const first = batch * SIGN_BATCH + 1;
      const numbers = Array.from({ length: Math.min(SIGN_BATCH, session.part_count - first + 1) }, (_, i) => first + i);
      pending = sendJson(
        `${gatewayUrl}/v1/uploads/${session.id}/parts`,
        'POST',
        auth,
        { part_numbers: numbers },
        agent,
      ).then((r) => {
        const parts = (
          JSON.parse(expectStatus(r, [200], 'POST /v1/uploads/{id}/parts').text) as { parts: SignedPart[] }
        ).parts;
        return new Map(parts.map((p) => [p.part_number, p]));
      });
      batches.set(batch, pending);
    }
    return pending;
  };
  const numbers = Array.from({ length: session.part_count }, (_, i) => i + 1);
  await pool(numbers, STREAMS, async (n) => {
    const part = (await signed(n)).get(n)!;
    const start = (n - 1) * session.part_size;
    expectStatus(
      await sendFile(part.url, 'PUT', {}, file, start, start + part.size - 1, agent),
      [200],
      `PUT part ${n}`,
    );
  });
  const seconds = (nowMs() - t0) / 1000;
  expectStatus(
    await sendJson(`${gatewayUrl}/v1/uploads/${session.id}/complete`, 'POST', auth, {}, agent),
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
      // One gateway per Kiln variant, so each one's memory is its own (a process keeps what an earlier
      // upload made it allocate).
      const gwDirect = await stack.startApp('api-gateway', 'gateway-direct');
      const directUrl = `http://127.0.0.1:${gwDirect.port}`;
      const gwTus = await stack.startApp('api-gateway', 'gateway-tus');
      const tusUrl = `http://127.0.0.1:${gwTus.port}`;
      await stack.startApp('assembler', 'assembler');
      const measured = async <T>(
        pid: number,
        work: () => Promise<T>,
      ): Promise<{ value: T; cpuS: number; peakMiB: number; startMiB: number }> => {
        await resetPeakMemory(pid);
        const startMiB = (await memoryOf(pid)).now / MiB;
        const cpu0 = await cpuSplitOf(pid);
        const value = await work();
        const cpu1 = await cpuSplitOf(pid);
        return {
          value,
          cpuS: cpu1.user + cpu1.system - cpu0.user - cpu0.system,
          peakMiB: (await memoryOf(pid)).peak / MiB,
          startMiB,
        };
      };
      // Each Kiln variant runs right before or after its baseline (the order flips per run), so a pair
      // shares the noise of the moment (the S3 server's background work after deletes, mostly).
      for (let run = 0; run < ctx.runs; run++) {
        const pairs = rotate<[Variant, Variant]>(
          [
            ['kiln-direct', 'raw-multipart'],
            ['kiln-tus', 'peer-tus'],
          ],
          run,
        );
        for (const variant of pairs.flatMap((pair) => rotate(pair, run))) {
          const busyBefore = await quiesce();
          if (variant === 'raw-multipart') {
            const key = `bench/raw-multipart-${Date.now()}`;
            const seconds = await directMultipartUpload(ctx, key, file, size, agent);
            samples[variant].push({ seconds, busyBefore });
            await store.remove(key);
          } else if (variant === 'kiln-direct') {
            const m = await measured(gwDirect.pid, () => kilnDirectUpload(directUrl, stack.auth, file, size, agent));
            samples[variant].push({
              seconds: m.value.seconds,
              busyBefore,
              cpuS: m.cpuS,
              peakMiB: m.peakMiB,
              startMiB: m.startMiB,
            });
            await settleUpload(stack, store, m.value.id, agent);
          } else if (variant === 'kiln-tus') {
            const m = await measured(gwTus.pid, async () => {
              const t0 = nowMs();
              const url = await tusUpload(`${tusUrl}/v1/tus/`, file, PART, {
                headers: stack.auth,
                parallelUploads: TUS_PARALLEL,
              });
              return { url, seconds: (nowMs() - t0) / 1000 };
            });
            samples[variant].push({
              seconds: m.value.seconds,
              busyBefore,
              cpuS: m.cpuS,
              peakMiB: m.peakMiB,
              startMiB: m.startMiB,
            });
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
          `${Math.ceil(size / PART)} parts of 16 MiB, streamed from disk; Kiln timed from POST /v1/uploads (session + S3 multipart creation) to the last part, its URLs signed by the gateway in batches of ${SIGN_BATCH} as the uploads reach them; the raw baseline from CreateMultipartUpload to the last part, each URL presigned in the client; neither completion is timed. Each Kiln variant runs next to its baseline, the order flipping per run.`,
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
        notes: [
          `A gateway of its own for this variant; peak reset before each run (clear_refs). Median ${median(peaks).toFixed(0)} MiB; RSS when each run started: ${perRun(v, (s) => s.startMiB, 0)} MiB.`,
        ],
      });
    }
  },
};
