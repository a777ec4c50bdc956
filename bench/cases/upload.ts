// Case 1, upload throughput: BENCH_UPLOAD_MIB (default 1024) MiB from a random file on disk through
// the gateway (upload session: POST /v1/uploads, then 16 MiB PUTs with Content-Range, 8 in flight)
// against (a) presigned PUTs of the same byte ranges straight into the same S3 server, same chunking
// and parallelism, and (b) the peer @tus/server + @tus/s3-store on the same S3 server, uploaded with
// tus-js-client in 16 MiB chunks over one stream (its S3 store has no concatenation, so no parallel
// uploads). The three alternate their order per run. Also the gateway's peak RSS during its upload
// (row of the memory case) against the peer's during its own.
import http from 'node:http';
import {
  BenchStack,
  MiB,
  chunkRanges,
  cpuSecondsOf,
  cpuSplitOf,
  databaseCounters,
  threadCpuDelta,
  threadCpuOf,
  envNumber,
  expectStatus,
  ioOf,
  median,
  memoryOf,
  nowMs,
  pool,
  progress,
  quiesce,
  randomFile,
  resetPeakMemory,
  rotate,
  send,
  sendFile,
  sleep,
  servicesCpu,
  sendJson,
  type SuiteContext,
} from '../bench-kit';
import type { Row } from '../report';
import type { MinioObjectStore } from '../../libs/storage/src/minio-object-store';
import { bucketStore, s3Client } from '../s3';
import type { BenchCase } from './case';
import { startTusPeer, tusUpload } from './tus';

const CHUNK = 16 * MiB;
const STREAMS = 8;

type Variant = 'direct' | 'kiln' | 'tus' | 'multipart';

interface Sample {
  seconds: number;
  busyBefore: number;
  cpuS?: number;
  /** Of cpuS: kernel time (socket reads and writes). */
  sysS?: number;
  /** Of cpuS: by thread name (main, V8 GC helpers, libuv pool). */
  threads?: Record<string, number>;
  peakMiB?: number;
  /** Bytes the gateway read + wrote during the run (it passes every byte: about 2 × size). */
  ioMiB?: number;
  /** CPU seconds the S3 server (radosgw, OSD, monitor) used during the run. */
  s3CpuS: number;
  /** PostgreSQL transactions per chunk request during the Kiln run. */
  dbTxPerChunk?: number;
}

/** Kiln: one upload session, chunk PUTs streamed from disk, 8 in flight. */
export async function kilnSessionUpload(
  stack: BenchStack,
  file: string,
  size: number,
  agent: http.Agent,
  streams = STREAMS,
): Promise<{ id: string; seconds: number; lastChunkAt: number }> {
  const t0 = nowMs();
  const created = expectStatus(
    await sendJson(`${stack.gatewayUrl}/v1/uploads`, 'POST', stack.auth, { filename: 'bench.bin', size }, agent),
    [201],
    'POST /v1/uploads',
  );
  const { id } = JSON.parse(created.text) as { id: string };
  let lastChunkAt = 0;
  await pool(chunkRanges(size, CHUNK), streams, async ({ start, end }) => {
    const r = await sendFile(
      `${stack.gatewayUrl}/v1/uploads/${id}`,
      'PUT',
      { ...stack.auth, 'Content-Range': `bytes ${start}-${end}/${size}` },
      file,
      start,
      end,
      agent,
    );
    expectStatus(r, [201, 202], `PUT chunk ${start}-${end}`);
    if (r.status === 201) lastChunkAt = nowMs();
  });
  return { id, seconds: (nowMs() - t0) / 1000, lastChunkAt };
}

/** Waits (polling GET /v1/uploads/{id}) until the upload is assembled; resolves with the moment seen. */
export async function waitAssembled(
  stack: BenchStack,
  id: string,
  agent: http.Agent,
  timeoutMs = 300_000,
): Promise<number> {
  const deadline = nowMs() + timeoutMs;
  for (;;) {
    const r = expectStatus(
      await send(`${stack.gatewayUrl}/v1/uploads/${id}`, 'GET', stack.auth, undefined, agent),
      [200],
      'GET /v1/uploads/{id}',
    );
    const view = JSON.parse(r.text) as { assembled: boolean; status: string; error?: string };
    if (view.assembled) return nowMs();
    if (view.status === 'failed') throw new Error(`assembly of upload ${id} failed: ${view.error}`);
    if (nowMs() > deadline) throw new Error(`upload ${id} not assembled within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** After a measured upload: let the assembler finish it (not timed), then delete the result. */
export async function settleUpload(
  stack: BenchStack,
  store: MinioObjectStore,
  id: string,
  agent: http.Agent,
): Promise<void> {
  await waitAssembled(stack, id, agent);
  await store.removePrefix(`uploads/${id}/`);
  await store.removePrefix(`chunks/${id}/`);
}

/** Baseline: the same byte ranges as separate objects, presigned PUTs, same parallelism. */
export async function directUpload(
  ctx: SuiteContext,
  prefix: string,
  file: string,
  size: number,
  agent: http.Agent,
): Promise<number> {
  const s3 = s3Client(ctx);
  const t0 = nowMs();
  await pool(chunkRanges(size, CHUNK), STREAMS, async ({ start, end }, i) => {
    const url = await s3.presignedUrl('PUT', ctx.bucket, `${prefix}${String(i).padStart(5, '0')}`, 3600);
    expectStatus(await sendFile(url, 'PUT', {}, file, start, end, agent), [200], 'direct PUT');
  });
  return (nowMs() - t0) / 1000;
}

/**
 * A second, informative baseline: the same ranges as the parts of one S3 multipart upload (presigned
 * UploadPart, same parallelism), as Kiln stores session chunks of 5 MiB or more. Timed from
 * CreateMultipartUpload to the last part; the completion (Kiln's assembly) is not timed.
 */
export async function directMultipartUpload(
  ctx: SuiteContext,
  key: string,
  file: string,
  size: number,
  agent: http.Agent,
): Promise<number> {
  const s3 = s3Client(ctx);
  const t0 = nowMs();
  const uploadId = await s3.initiateNewMultipartUpload(ctx.bucket, key, {});
  const parts: { part: number; etag: string }[] = [];
  await pool(chunkRanges(size, CHUNK), STREAMS, async ({ start, end }, i) => {
    const url = await s3.presignedUrl('PUT', ctx.bucket, key, 3600, { partNumber: String(i + 1), uploadId });
    const r = expectStatus(await sendFile(url, 'PUT', {}, file, start, end, agent), [200], 'direct UploadPart');
    parts.push({ part: i + 1, etag: String(r.headers.etag ?? '').replace(/"/g, '') });
  });
  const seconds = (nowMs() - t0) / 1000;
  await s3.completeMultipartUpload(
    ctx.bucket,
    key,
    uploadId,
    parts.sort((a, b) => a.part - b.part),
  );
  return seconds;
}

export const uploadCase: BenchCase = {
  name: 'upload',
  summary:
    'upload throughput: Kiln upload session (16 MiB chunks, 8 streams) vs direct presigned PUT and vs @tus/server + s3-store',
  async run(ctx, emit) {
    const size = Math.round(envNumber('BENCH_UPLOAD_MIB', 1024) * MiB);
    progress(`upload: preparing a ${size / MiB} MiB random file`);
    const file = await randomFile(`payload-${size}.bin`, size);
    const store = await bucketStore(ctx, ctx.bucket);
    const stack = new BenchStack(ctx, 'upload');
    const agent = new http.Agent({ keepAlive: true, maxSockets: STREAMS });
    const peer = await startTusPeer(ctx, 'upload');
    const samples: Record<Variant, Sample[]> = { direct: [], kiln: [], tus: [], multipart: [] };
    let peakReset = true;
    try {
      const gateway = await stack.startApp('api-gateway', 'gateway');
      // The assembler finishes each measured upload before the next run starts (not timed here: see the assembly case).
      await stack.startApp('assembler', 'assembler');
      for (let run = 0; run < ctx.runs; run++) {
        for (const variant of rotate<Variant>(['direct', 'kiln', 'tus', 'multipart'], run)) {
          const busyBefore = await quiesce();
          const svc0 = await servicesCpu();
          const s3Cpu = async () => (await servicesCpu()).s3 - svc0.s3;
          if (variant === 'direct') {
            const prefix = `bench/direct-${Date.now()}/`;
            const seconds = await directUpload(ctx, prefix, file, size, agent);
            samples.direct.push({ seconds, busyBefore, s3CpuS: await s3Cpu() });
            await store.removePrefix(prefix);
          } else if (variant === 'multipart') {
            const key = `bench/multipart-${Date.now()}`;
            const seconds = await directMultipartUpload(ctx, key, file, size, agent);
            samples.multipart.push({ seconds, busyBefore, s3CpuS: await s3Cpu() });
            await store.remove(key);
          } else if (variant === 'kiln') {
            peakReset = (await resetPeakMemory(gateway.pid)) && peakReset;
            const db0 = await databaseCounters(ctx.databaseUrl);
            const cpu0 = await cpuSplitOf(gateway.pid);
            const threads0 = await threadCpuOf(gateway.pid);
            const io0 = await ioOf(gateway.pid);
            const { id, seconds } = await kilnSessionUpload(stack, file, size, agent);
            const io1 = await ioOf(gateway.pid);
            const cpu1 = await cpuSplitOf(gateway.pid);
            samples.kiln.push({
              seconds,
              busyBefore,
              s3CpuS: await s3Cpu(),
              cpuS: cpu1.user + cpu1.system - cpu0.user - cpu0.system,
              sysS: cpu1.system - cpu0.system,
              threads: threadCpuDelta(threads0, await threadCpuOf(gateway.pid)),
              peakMiB: (await memoryOf(gateway.pid)).peak / MiB,
              ioMiB: (io1.rchar - io0.rchar + io1.wchar - io0.wchar) / MiB,
            });
            samples.kiln[samples.kiln.length - 1].dbTxPerChunk =
              ((await databaseCounters(ctx.databaseUrl)).transactions - db0.transactions - 1) / Math.ceil(size / CHUNK);
            await settleUpload(stack, store, id, agent);
          } else {
            peakReset = (await resetPeakMemory(peer.pid)) && peakReset;
            const cpu0 = await cpuSecondsOf(peer.pid);
            const t0 = nowMs();
            const url = await tusUpload(peer.url, file, CHUNK);
            const seconds = (nowMs() - t0) / 1000;
            samples.tus.push({
              seconds,
              busyBefore,
              s3CpuS: await s3Cpu(),
              cpuS: (await cpuSecondsOf(peer.pid)) - cpu0,
              peakMiB: (await memoryOf(peer.pid)).peak / MiB,
            });
            await peer.remove(url);
          }
        }
        const mbps = (v: Variant) => (size / 1e6 / samples[v][run].seconds).toFixed(1);
        progress(
          `upload run ${run + 1}/${ctx.runs}: direct ${mbps('direct')} MB/s, direct multipart ${mbps('multipart')} MB/s, kiln ${mbps('kiln')} MB/s, tus ${mbps('tus')} MB/s; gateway peak ${samples.kiln[run].peakMiB!.toFixed(0)} MiB`,
        );
      }
    } finally {
      agent.destroy();
      await peer.stop();
      await stack.stop();
    }

    const rate = (v: Variant) => samples[v].map((s) => size / 1e6 / s.seconds);
    const gib = size / 1024 ** 3;
    const perRun = (v: Variant, f: (s: Sample) => number | undefined, digits: number) =>
      samples[v].map((s) => f(s)?.toFixed(digits)).join(', ');
    const common = [
      `${size / MiB} MiB payload (random bytes, read from disk with fs streams), ${Math.ceil(size / CHUNK)} chunks of 16 MiB; each run rotates the order of direct, direct multipart, Kiln and tus.`,
      `Gateway CPU per GiB: ${perRun('kiln', (s) => s.cpuS! / gib, 2)} core·s, of which kernel (system) time ${perRun('kiln', (s) => s.sysS! / gib, 2)}; gateway read+write per run: ${perRun('kiln', (s) => s.ioMiB, 0)} MiB (the bytes pass through it once each way).`,
      `PostgreSQL transactions (a statement outside a transaction counts as one) per chunk request, the start of the assembly included: ${perRun('kiln', (s) => s.dbTxPerChunk, 1)}.`,
      `Gateway CPU by thread (core·s per run): ${samples.kiln
        .map((s) =>
          Object.entries(s.threads ?? {})
            .sort((a, b) => b[1] - a[1])
            .map(([k, v]) => `${k} ${v.toFixed(2)}`)
            .join(', '),
        )
        .join(' | ')}.`,
      `S3 server CPU per GiB (radosgw + OSD + monitor): direct ${perRun('direct', (s) => s.s3CpuS / gib, 1)}; direct multipart ${perRun('multipart', (s) => s.s3CpuS / gib, 1)}; kiln ${perRun('kiln', (s) => s.s3CpuS / gib, 1)}; tus ${perRun('tus', (s) => s.s3CpuS / gib, 1)} core·s — client, gateway and S3 server share the machine's 2 cores.`,
      `Machine CPU busy share just before each run (noise indicator): direct ${perRun('direct', (s) => s.busyBefore, 2)}; kiln ${perRun('kiln', (s) => s.busyBefore, 2)}; tus ${perRun('tus', (s) => s.busyBefore, 2)}.`,
    ];
    const row = (
      id: string,
      title: string,
      base: Variant,
      baseLabel: string,
      target: number,
      notes: string[],
    ): Row => ({
      case: 'upload',
      id,
      title,
      kiln: { label: 'Kiln upload session, 8 streams', unit: 'MB/s', samples: rate('kiln') },
      baseline: { label: baseLabel, unit: 'MB/s', samples: rate(base) },
      ratio: { samples: rate('kiln').map((k, i) => k / rate(base)[i]), meaning: 'Kiln / baseline' },
      target: target > 0 ? { on: 'ratio', op: '>=', value: target } : null,
      notes,
    });
    emit(
      row(
        'upload.vs-direct',
        `Upload ${size / MiB} MiB, 16 MiB chunks, 8 streams`,
        'direct',
        'direct presigned PUT',
        0.8,
        common,
      ),
    );
    emit(
      row(
        'upload.vs-tus',
        `Upload ${size / MiB} MiB vs @tus/server + s3-store`,
        'tus',
        '@tus/server 2.4.5 + s3-store 2.0.7, 1 stream',
        2,
        [
          'tus-js-client 4.3.1, chunkSize 16 MiB, one stream (the S3 store has no concatenation extension, so no parallel uploads); peer in its own process, same NODE_OPTIONS/MALLOC_ARENA_MAX as the Kiln apps, S3 client with requestChecksumCalculation/responseChecksumValidation WHEN_REQUIRED and forcePathStyle.',
          `Peer CPU per GiB: ${perRun('tus', (s) => s.cpuS! / gib, 2)} core·s.`,
        ],
      ),
    );
    emit(
      row(
        'upload.vs-direct-multipart',
        `Upload ${size / MiB} MiB vs direct multipart parts`,
        'multipart',
        'direct presigned UploadPart, one multipart upload',
        0,
        [
          "Information: the same ranges PUT straight into S3 as the parts of one multipart upload (how the gateway stores session chunks of 5 MiB or more), 8 in flight; timed from CreateMultipartUpload to the last part (the completion, which is Kiln's assembly, is not timed).",
        ],
      ),
    );
    const peaks = (v: Variant) => samples[v].map((s) => s.peakMiB!);
    emit({
      case: 'memory',
      id: 'memory.upload-peak',
      title: `Gateway peak RSS during the ${size / MiB} MiB upload`,
      kiln: { label: 'gateway VmHWM', unit: 'MiB', samples: peaks('kiln') },
      baseline: { label: 'tus peer VmHWM (its upload)', unit: 'MiB', samples: peaks('tus') },
      ratio: { samples: peaks('kiln').map((k, i) => k / peaks('tus')[i]), meaning: 'Kiln / peer' },
      target: { on: 'kiln', op: '<', value: 150 },
      notes: [
        peakReset
          ? "Peak reset before each run (echo 5 > /proc/<pid>/clear_refs), so each sample is that run's own peak."
          : 'The kernel refused to reset the peak (clear_refs): samples are lifetime peaks of the process.',
        `Gateway started with NODE_OPTIONS=${stack.env.NODE_OPTIONS} MALLOC_ARENA_MAX=${stack.env.MALLOC_ARENA_MAX} (as npm run up). Median ${median(peaks('kiln')).toFixed(0)} MiB.`,
      ],
    });
  },
};
