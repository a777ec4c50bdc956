// The tus 1.0.0 endpoint end to end with the real tus-js-client: two gateway processes, an
// assembler and a converter; real PostgreSQL, Redis, S3 (radosgw) and ffmpeg.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { makeAudio } from '../libs/media/src/testing';
import { makeRandomFile, sha256OfStream } from '../test/files';
import { RoundRobinProxy } from '../test/e2e-helpers/raw-http';
import { CHUNK_MAX, MiB, idOf, useTusStack } from '../test/e2e-helpers/tus';
import { json, waitFor } from '../test/stack';

jest.setTimeout(240_000);

describe('tus 1.0 endpoint /v1/tus/ (real processes, two gateways)', () => {
  const t = useTusStack();
  const { stack, assembled, offsetOf, runClient } = t;
  let proxy: RoundRobinProxy;
  let big: string;
  let bigSha: string;
  const BIG = 40 * MiB;

  beforeAll(async () => {
    big = path.join(t.tmp.dir, 'big.bin');
    bigSha = await makeRandomFile(big, BIG);
    proxy = new RoundRobinProxy(stack.gatewayUrls);
    await proxy.start();
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  describe('tus-js-client', () => {
    it('uploads 40 MiB in 5 MiB PATCHes, is cut off, and resumes from a new client with the stored URL (not from 0)', async () => {
      const first = runClient(big, {
        endpoint: `${stack.url}/v1/tus/`,
        chunkSize: 5 * MiB,
        metadata: { filename: 'big.bin', checksum_sha256: bigSha },
        stopAt: 13 * MiB,
      });
      expect(await first.done).toBe('aborted');
      const url = first.upload().url!;
      expect(url).toMatch(new RegExp(`^${stack.url}/v1/tus/[0-9a-f-]{36}$`));
      // Two PATCHes of 5 MiB were answered before the third was cut off.
      expect(first.requests.filter((r) => r.method === 'PATCH').length).toBeGreaterThanOrEqual(3);

      const second = runClient(big, { uploadUrl: url, chunkSize: 5 * MiB });
      expect(await second.done).toBe('done');
      expect(second.requests.some((r) => r.method === 'POST')).toBe(false);
      const resumedAt = second.requests.find((r) => r.method === 'PATCH')!.offset!;
      expect(resumedAt).toBeGreaterThanOrEqual(10 * MiB);
      expect(resumedAt).toBeLessThan(BIG);

      const id = idOf(url);
      const done = await assembled(id);
      expect(done).toMatchObject({
        status: 'complete',
        offset: BIG,
        received_bytes: BIG,
        size: BIG,
        filename: 'big.bin',
        checksum_sha256: bigSha,
      });
      expect(await sha256OfStream(await t.store.get(await t.storedKey(id)))).toBe(bigSha);
    });

    it('alternates PATCHes between two gateways (round-robin, no stickiness), cut off and resumed', async () => {
      const first = runClient(big, {
        endpoint: `${proxy.url}/v1/tus/`,
        chunkSize: 5 * MiB,
        metadata: { filename: 'rr.bin' },
        stopAt: 22 * MiB,
      });
      expect(await first.done).toBe('aborted');
      const url = first.upload().url!;
      expect(url.startsWith(proxy.url)).toBe(true);
      const second = runClient(big, { uploadUrl: url, chunkSize: 5 * MiB });
      expect(await second.done).toBe('done');
      expect(second.requests.find((r) => r.method === 'PATCH')!.offset!).toBeGreaterThanOrEqual(15 * MiB);

      const patches = proxy.seen.filter((s) => s.method === 'PATCH');
      expect(patches.length).toBeGreaterThanOrEqual(8);
      for (const g of stack.gatewayUrls) expect(patches.filter((p) => p.target === g).length).toBeGreaterThanOrEqual(3);
      const id = idOf(url);
      await assembled(id);
      expect(await sha256OfStream(await t.store.get(await t.storedKey(id)))).toBe(bigSha);
    });

    it('stores one PATCH of the whole file (no chunkSize) in pieces of at most KILN_CHUNK_SIZE_MAX, keeping a cut-off PATCH’s bytes', async () => {
      const first = runClient(big, {
        endpoint: `${stack.url}/v1/tus/`,
        metadata: { filename: 'one.bin' },
        stopAt: 15 * MiB,
      });
      expect(await first.done).toBe('aborted');
      const url = first.upload().url!;
      expect(first.requests.filter((r) => r.method === 'PATCH')).toHaveLength(1);
      // Once the gateway has stored what arrived of the cut-off PATCH, it lets go of the upload.
      const id = idOf(url);
      await waitFor(
        'the cut-off PATCH to be stored',
        async () => (await t.redis.exists(`${stack.env.KILN_QUEUE_PREFIX}:tus:lock:${id}`)) === 0,
        30_000,
        50,
      );
      const kept = await offsetOf(url, stack.gatewayUrls[1]);
      expect(kept).toBeGreaterThan(CHUNK_MAX);
      const second = runClient(big, { uploadUrl: url });
      expect(await second.done).toBe('done');
      expect(second.requests.find((r) => r.method === 'PATCH')!.offset).toBe(kept);

      await assembled(id);
      expect(await sha256OfStream(await t.store.get(await t.storedKey(id)))).toBe(bigSha);
      const { rows } = await t.db.query<{ length: string }>(
        'SELECT "end" - start + 1 AS length FROM upload_chunks WHERE upload_id = $1 ORDER BY start',
        [id],
      );
      expect(rows.length).toBeGreaterThanOrEqual(Math.ceil(BIG / CHUNK_MAX));
      expect(rows.every((r) => Number(r.length) <= CHUNK_MAX)).toBe(true);
      expect(rows.reduce((n, r) => n + Number(r.length), 0)).toBe(BIG);
    });

    it('metadata target creates a job that converts the upload (WAV → MP3), its id in Kiln-Job-Id and GET /v1/uploads/{id}', async () => {
      const wav = await makeAudio({ path: path.join(t.tmp.dir, 'tone.wav'), seconds: 1, format: 'wav' });
      let jobId: string | null = null;
      const run = runClient(wav, {
        endpoint: `${stack.url}/v1/tus/`,
        metadata: { filename: 'tone.wav', filetype: 'audio/wav', target: 'mp3' },
        onAfterResponse: (req, res) => {
          if (req.getMethod() === 'POST') jobId = res.getHeader('Kiln-Job-Id') ?? null;
        },
      });
      expect(await run.done).toBe('done');
      expect(jobId).toMatch(/^[0-9a-f-]{36}$/);
      const upload = await json(stack.api(`/v1/uploads/${idOf(run.upload().url!)}`));
      expect(upload).toMatchObject({
        job_id: jobId,
        filename: 'tone.wav',
        content_type: 'audio/wav',
        size: (await stat(wav)).size,
      });
      const job = await waitFor(
        'job to finish',
        async () => {
          const j = await json(stack.api(`/v1/jobs/${jobId}`));
          return ['completed', 'failed', 'canceled'].includes(j.status.code) ? j : undefined;
        },
        120_000,
      );
      expect(job).toMatchObject({
        status: { code: 'completed' },
        process: true,
        input: [{ filename: 'tone.wav', status: 'ready' }],
        conversion: [{ target: 'mp3' }],
      });
      expect(job.output).toHaveLength(1);
      expect(job.output[0].filename).toBe('tone.mp3');
    });
  });
});
