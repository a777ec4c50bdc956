// Case 3, assembly: BENCH_UPLOAD_MIB (default 1024) MiB in 16 MiB chunks through an upload session,
// then the assembler's work in storage (its log line names the mode: multipart completion, or
// server-side compose of chunk objects). Kiln figure: wall time from the last chunk's 201 to
// `assembled: true` in GET /v1/uploads/{id}; baseline: the upload's own wall time (ratio target
// ≤ 0.10). Also the assembler's own log line ('upload assembled', ms), the bytes the assembler
// process read and wrote meanwhile (/proc/<pid>/io: no upload byte goes through it), and the same
// chunk objects composed by minio-js directly (the S3 server's own copy time, same parallelism).
import http from 'node:http';
import { CopyDestinationOptions, CopySourceOptions } from 'minio';
import {
  BenchStack,
  MiB,
  chunkRanges,
  envNumber,
  ioOf,
  logLines,
  nowMs,
  progress,
  quiesce,
  randomFile,
  rotate,
  servicesCpu,
  sleep,
} from '../bench-kit';
import { bucketStore, s3Client } from '../s3';
import type { BenchCase } from './case';
import { directUpload, kilnSessionUpload, waitAssembled } from './upload';

const CHUNK = 16 * MiB;
/** Parallel UploadPartCopy calls of the bare compose: the object store's default partsInFlight. */
const COMPOSE_CONCURRENCY = 4;

interface KilnSample {
  uploadS: number;
  assemblyS: number;
  loggedMs: number | null;
  serverSide: boolean | null;
  /** How the assembler stitched the chunks (its log line's `mode`): multipart, compose or stream. */
  mode: string | null;
  assemblerIoMiB: number;
  gatewayIoMiB: number;
  /** S3 server CPU seconds from the last chunk's 201 to assembled. */
  s3CpuS: number;
}

export const assemblyCase: BenchCase = {
  name: 'assembly',
  summary:
    'assembly: 64 × 16 MiB chunks assembled in storage; assembler wall time / upload wall time; bytes through the assembler',
  async run(ctx, emit) {
    const size = Math.round(envNumber('BENCH_UPLOAD_MIB', 1024) * MiB);
    const chunks = chunkRanges(size, CHUNK).length;
    const file = await randomFile(`payload-${size}.bin`, size);
    const store = await bucketStore(ctx, ctx.bucket);
    const s3 = s3Client(ctx);
    const stack = new BenchStack(ctx, 'assembly');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const kiln: KilnSample[] = [];
    const bare: number[] = [];
    const bareS3Cpu: number[] = [];
    try {
      const gateway = await stack.startApp('api-gateway', 'gateway');
      const assembler = await stack.startApp('assembler', 'assembler');
      for (let run = 0; run < ctx.runs; run++) {
        for (const variant of rotate(['kiln', 'bare'] as const, run)) {
          await quiesce();
          if (variant === 'kiln') {
            const a0 = await ioOf(assembler.pid);
            const g0 = await ioOf(gateway.pid);
            const up = await kilnSessionUpload(stack, file, size, agent);
            if (!up.lastChunkAt) throw new Error('no chunk answered 201 (complete)');
            const svc0 = await servicesCpu();
            const assembledAt = await waitAssembled(stack, up.id, agent);
            const s3CpuS = (await servicesCpu()).s3 - svc0.s3;
            const a1 = await ioOf(assembler.pid);
            const g1 = await ioOf(gateway.pid);
            // The assembler logs after it has recorded the result; give the line a moment to be written.
            let line: { ms?: number; serverSide?: boolean; mode?: string } | undefined;
            for (let i = 0; i < 50 && !line; i++) {
              line = (await logLines(assembler.logFile, 'upload assembled')).find(
                (l: { uploadId?: string }) => l.uploadId === up.id,
              );
              if (!line) await sleep(100);
            }
            kiln.push({
              uploadS: up.seconds,
              assemblyS: (assembledAt - up.lastChunkAt) / 1000,
              loggedMs: line?.ms ?? null,
              serverSide: line?.serverSide ?? null,
              mode: line?.mode ?? (line?.serverSide === undefined ? null : line.serverSide ? 'compose' : 'stream'),
              assemblerIoMiB: (a1.rchar - a0.rchar + a1.wchar - a0.wchar) / MiB,
              gatewayIoMiB: (g1.rchar - g0.rchar + g1.wchar - g0.wchar) / MiB,
              s3CpuS,
            });
            await store.removePrefix(`uploads/${up.id}/`);
          } else {
            // The same chunks as separate objects (not timed), then one compose of them, timed.
            const prefix = `bench/compose-${Date.now()}/`;
            await directUpload(ctx, prefix, file, size, agent);
            const sources = chunkRanges(size, CHUNK).map(
              (_, i) => new CopySourceOptions({ Bucket: ctx.bucket, Object: `${prefix}${String(i).padStart(5, '0')}` }),
            );
            const svc0 = await servicesCpu();
            const t0 = nowMs();
            await s3.composeObject(
              new CopyDestinationOptions({ Bucket: ctx.bucket, Object: `${prefix}composed` }),
              sources,
              { maxConcurrency: COMPOSE_CONCURRENCY },
            );
            bare.push((nowMs() - t0) / 1000);
            bareS3Cpu.push((await servicesCpu()).s3 - svc0.s3);
            await store.removePrefix(prefix);
          }
        }
        const k = kiln[run];
        progress(
          `assembly run ${run + 1}/${ctx.runs}: upload ${k.uploadS.toFixed(2)} s, assembly ${k.assemblyS.toFixed(2)} s (assembler log ${k.loggedMs ?? '?'} ms, mode ${String(k.mode)}), bare compose ${bare[run].toFixed(2)} s; assembler I/O ${k.assemblerIoMiB.toFixed(2)} MiB, gateway I/O ${k.gatewayIoMiB.toFixed(0)} MiB`,
        );
      }
    } finally {
      agent.destroy();
      await stack.stop();
    }
    const assembly = kiln.map((k) => k.assemblyS);
    const logged = kiln.map((k) => (k.loggedMs ?? NaN) / 1000);
    emit({
      case: 'assembly',
      id: 'assembly.ratio',
      title: `Assembly of ${chunks} × 16 MiB chunks (${[...new Set(kiln.map((k) => k.mode ?? 'mode unknown'))].join(', ')})`,
      kiln: { label: 'last chunk 201 → assembled: true', unit: 's', samples: assembly },
      baseline: { label: 'upload wall time (8 streams)', unit: 's', samples: kiln.map((k) => k.uploadS) },
      ratio: { samples: kiln.map((k) => k.assemblyS / k.uploadS), meaning: 'assembly / upload' },
      target: { on: 'ratio', op: '<=', value: 0.1 },
      notes: [
        `Assembler's own 'upload assembled' log line: ${logged.map((x) => `${x.toFixed(2)} s`).join(', ')} (mode: ${kiln.map((k) => String(k.mode)).join(', ')}; it also counts deleting the chunk objects, after the upload already shows assembled).`,
        `Bytes the assembler process read + wrote (rchar + wchar of /proc/<pid>/io) from the first chunk to assembled: ${kiln.map((k) => `${k.assemblerIoMiB.toFixed(2)} MiB`).join(', ')} for a ${size / MiB} MiB file — no upload byte passed through it. The gateway, which does carry the bytes: ${kiln.map((k) => `${k.gatewayIoMiB.toFixed(0)} MiB`).join(', ')}.`,
        `The same ${chunks} objects composed by minio-js composeObject directly (UploadPartCopy, ${COMPOSE_CONCURRENCY} in flight like the object store): ${bare.map((b) => `${b.toFixed(2)} s`).join(', ')} — the S3 server's own copy time.`,
        `S3 server CPU (radosgw + OSD + monitor) during Kiln's assembly: ${kiln.map((k) => `${k.s3CpuS.toFixed(1)} core·s`).join(', ')}; during the bare compose: ${bareS3Cpu.map((c) => `${c.toFixed(1)} core·s`).join(', ')} (UploadPartCopy makes the server read and write every byte of the ${size / MiB} MiB again).`,
      ],
      extra: { samples: kiln, bare_compose_s: bare },
    });
    emit({
      case: 'assembly',
      id: 'assembly.vs-bare-compose',
      title: `Assembler vs a bare S3 compose of the same ${chunks} chunks`,
      kiln: { label: "assembler log 'upload assembled' ms", unit: 's', samples: logged },
      baseline: { label: `minio-js composeObject, ${COMPOSE_CONCURRENCY} in flight`, unit: 's', samples: bare },
      ratio: { samples: logged.map((l, i) => l / bare[i]), meaning: 'assembler / bare compose' },
      target: null,
      notes: [
        "Information: the assembler's own time against what the S3 server needs to copy the same chunks into one object (UploadPartCopy).",
      ],
    });
  },
};
