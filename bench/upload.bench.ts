// `npm run bench:upload`: 1 GiB through the gateway in 16 MiB chunks with 8 parallel streams,
// against a direct presigned PUT of the same bytes into the same S3 server in the same run.
// Prints throughput (MB/s) of both, their ratio, and the gateway's peak RSS; also assembly time.
import http from 'node:http';
import { Client } from 'minio';
import { MinioObjectStore } from '../libs/storage/src/minio-object-store';
import { MiB, benchEnv, cpuSecondsOf, chunkMaker, freePort, median, memoryOf, pool, send, spread, startApp, stopApp } from './bench-kit';

const TOTAL = Number(process.env.KILN_BENCH_BYTES ?? 1024 * MiB);
const CHUNK = 16 * MiB;
const STREAMS = 8;
const ROUNDS = Number(process.env.KILN_BENCH_ROUNDS ?? 3);

async function main(): Promise<void> {
  const port = await freePort();
  const { env, apiKey } = await benchEnv({ KILN_PORT: String(port), KILN_HOST: '127.0.0.1', KILN_CHUNK_SIZE_MAX: '64MiB' });
  const store = new MinioObjectStore({ endpoint: env.S3_ENDPOINT, accessKey: env.S3_ACCESS_KEY, secretKey: env.S3_SECRET_KEY, bucket: env.S3_BUCKET });
  await store.ensureBucket();
  const u = new URL(env.S3_ENDPOINT);
  const s3 = new Client({ endPoint: u.hostname, port: Number(u.port), useSSL: false, accessKey: env.S3_ACCESS_KEY, secretKey: env.S3_SECRET_KEY, region: 'us-east-1' });
  const gateway = await startApp('api-gateway', env);
  const assembler = await startApp('assembler', env);
  const agent = new http.Agent({ keepAlive: true, maxSockets: STREAMS });
  const chunk = chunkMaker(CHUNK);
  const count = Math.ceil(TOTAL / CHUNK);
  const base = `http://127.0.0.1:${port}`;
  const results: { direct: number; kiln: number; assemblyS: number; gatewayCpuPerGiB: number }[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      // Baseline: the same bytes straight into S3 with presigned PUTs, same parallelism.
      const prefix = `bench/direct-${Date.now()}/`;
      let t0 = process.hrtime.bigint();
      await pool([...Array(count).keys()], STREAMS, async (i) => {
        const url = await s3.presignedUrl('PUT', env.S3_BUCKET, `${prefix}${i}`, 3600);
        const r = await send(url, 'PUT', {}, chunk(i), agent);
        if (r.status !== 200) throw new Error(`direct PUT ${r.status}: ${r.text}`);
      });
      const directS = Number(process.hrtime.bigint() - t0) / 1e9;
      await store.removePrefix(prefix);

      // Kiln: an upload session, 16 MiB chunks with Content-Range, 8 in flight.
      const session = await send(`${base}/v1/uploads`, 'POST', { 'X-Api-Key': apiKey, 'Content-Type': 'application/json' }, Buffer.from(JSON.stringify({ filename: 'bench.bin', size: TOTAL })), agent);
      const { id } = JSON.parse(session.text) as { id: string };
      const cpu0 = await cpuSecondsOf(gateway.pid!);
      t0 = process.hrtime.bigint();
      await pool([...Array(count).keys()], STREAMS, async (i) => {
        const start = i * CHUNK;
        const end = Math.min(TOTAL, start + CHUNK) - 1;
        const body = chunk(i).subarray(0, end - start + 1);
        const r = await send(`${base}/v1/uploads/${id}`, 'PUT', { 'X-Api-Key': apiKey, 'Content-Range': `bytes ${start}-${end}/${TOTAL}` }, body, agent);
        if (r.status !== 202 && r.status !== 201) throw new Error(`chunk ${r.status}: ${r.text}`);
      });
      const kilnS = Number(process.hrtime.bigint() - t0) / 1e9;
      const gatewayCpuPerGiB = ((await cpuSecondsOf(gateway.pid!)) - cpu0) / (TOTAL / 1024 ** 3);
      const a0 = process.hrtime.bigint();
      for (;;) {
        const s = JSON.parse((await send(`${base}/v1/uploads/${id}`, 'GET', { 'X-Api-Key': apiKey }, undefined, agent)).text) as { assembled: boolean; status: string };
        if (s.assembled || s.status === 'failed') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const assemblyS = Number(process.hrtime.bigint() - a0) / 1e9;
      await store.removePrefix(`uploads/${id}/`);
      const mb = TOTAL / 1e6;
      results.push({ direct: mb / directS, kiln: mb / kilnS, assemblyS, gatewayCpuPerGiB });
      console.log(`round ${round}: direct ${(mb / directS).toFixed(1)} MB/s, kiln ${(mb / kilnS).toFixed(1)} MB/s, ratio ${(directS / kilnS).toFixed(2)}, assembly ${assemblyS.toFixed(2)} s (${((assemblyS / kilnS) * 100).toFixed(1)} % of upload time), gateway CPU ${gatewayCpuPerGiB.toFixed(2)} core·s/GiB`);
    }
    const mem = await memoryOf(gateway.pid!);
    const ratios = results.map((r) => r.kiln / r.direct);
    console.log('\nupload benchmark (1 GiB = %d × 16 MiB chunks, %d streams, %d rounds)', count, STREAMS, ROUNDS);
    console.log(`  direct presigned PUT : median ${median(results.map((r) => r.direct)).toFixed(1)} MB/s (${spread(results.map((r) => r.direct))})`);
    console.log(`  kiln upload session  : median ${median(results.map((r) => r.kiln)).toFixed(1)} MB/s (${spread(results.map((r) => r.kiln))})`);
    console.log(`  ratio kiln/direct    : median ${median(ratios).toFixed(2)} (${spread(ratios.map((x) => x * 100))} %)   target >= 0.80`);
    console.log(`  gateway peak RSS     : ${(mem.peak / MiB).toFixed(0)} MiB   target < 250 MiB`);
    console.log(`  assembly (compose)   : median ${median(results.map((r) => r.assemblyS)).toFixed(2)} s`);
  } finally {
    agent.destroy();
    await stopApp(gateway);
    await stopApp(assembler);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
