// tus concatenation (parallel uploads) and multipart parts for large PATCHes, end to end: two
// gateway processes, an assembler and a converter; real PostgreSQL, Redis, S3 (radosgw), ffmpeg
// and the real tus-js-client.
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { Queue } from 'bullmq';
import { makeAudio } from '../libs/media/src/testing';
import { makeRandomFile, readRange, sha256File, sha256OfStream } from '../test/files';
import { CHUNK_MAX, MiB, OFFSET_STREAM, TUS, idOf, metadata, useTusStack } from '../test/e2e-helpers/tus';
import { json, waitFor } from '../test/stack';

jest.setTimeout(300_000);

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('tus concatenation and multipart parts (real processes)', () => {
  const t = useTusStack();
  const { stack } = t;

  const rows = async (uploadId: string) =>
    (
      await t.db.query<{ start: string; end: string; part_number: number | null; object_key: string | null }>(
        'SELECT start, "end", part_number, object_key FROM upload_chunks WHERE upload_id = $1 ORDER BY start',
        [uploadId],
      )
    ).rows;
  const uploadRow = async (uploadId: string) =>
    (
      await t.db.query<{
        status: string;
        tus_concat: string | null;
        concat_final_id: string | null;
        object_key: string | null;
        multipart_key: string | null;
        multipart_id: string | null;
        completed_at: Date | null;
      }>('SELECT * FROM uploads WHERE id = $1', [uploadId])
    ).rows[0];
  /** The assembler's outcome for an upload (the assemble queue job's return value). */
  const assembly = async (uploadId: string): Promise<{ status: string; detail?: string }> => {
    const q = new Queue('assemble', { connection: t.redis, prefix: stack.env.KILN_QUEUE_PREFIX });
    try {
      return (await waitFor('assemble job', async () => (await q.getJob(`assemble.${uploadId}`))?.returnvalue))!;
    } finally {
      await q.close();
    }
  };
  const createRaw = (headers: Record<string, string>, key?: string | null) =>
    stack.api('/v1/tus/', { method: 'POST', key, headers: { ...TUS, ...headers } });

  describe('tus-js-client parallelUploads', () => {
    it('uploads a 33 MiB WAV in 4 parallel partial uploads; the final is assembled server side, converted, partials cleaned up', async () => {
      const wav = await makeAudio({ path: path.join(t.tmp.dir, 'long.wav'), seconds: 200, format: 'wav' });
      const size = (await stat(wav)).size;
      expect(size).toBeGreaterThan(30 * MiB);
      const sha = await sha256File(wav);
      const posts: { concat: string | null; location: string | null; jobId: string | null }[] = [];
      const run = t.runClient(wav, {
        endpoint: `${stack.url}/v1/tus/`,
        parallelUploads: 4,
        metadata: { filename: 'long.wav', filetype: 'audio/wav', target: 'mp3', checksum_sha256: sha },
        onAfterResponse: (req, res) => {
          if (req.getMethod() === 'POST')
            posts.push({
              concat: req.getHeader('Upload-Concat') ?? null,
              location: res.getHeader('Location') ?? null,
              jobId: res.getHeader('Kiln-Job-Id') ?? null,
            });
        },
      });
      expect(await run.done).toBe('done');
      const partials = posts.filter((p) => p.concat === 'partial');
      expect(partials).toHaveLength(4);
      const final = posts.find((p) => p.concat?.startsWith('final;'))!;
      // The final names the four partials (in file order, which the client knows; answers came in any order).
      const named = final.concat!.slice('final;'.length).split(' ');
      expect([...named].sort()).toEqual(partials.map((p) => p.location).sort());
      const finalId = idOf(final.location!);
      expect(final.jobId).toMatch(/^[0-9a-f-]{36}$/);
      // Only the final is a job input; the partials are nobody's input.
      for (const p of partials) expect((await uploadRow(idOf(p.location!)))?.concat_final_id ?? finalId).toBe(finalId);

      const job = await waitFor(
        'job to finish',
        async () => {
          const j = await json(stack.api(`/v1/jobs/${final.jobId}`));
          return ['completed', 'failed', 'canceled'].includes(j.status.code) ? j : undefined;
        },
        180_000,
      );
      expect(job).toMatchObject({
        status: { code: 'completed' },
        input: [{ filename: 'long.wav', status: 'ready', size }],
        conversion: [{ target: 'mp3' }],
      });
      expect(job.input).toHaveLength(1);
      expect(job.output[0].filename).toBe('long.mp3');
      const input = (
        await t.db.query<{ object_key: string; checksum_sha256: string }>(
          'SELECT object_key, checksum_sha256 FROM inputs WHERE job_id = $1',
          [final.jobId],
        )
      ).rows;
      expect(input).toHaveLength(1);
      expect(input[0].checksum_sha256).toBe(sha);
      expect(await sha256OfStream(await t.store.get(input[0].object_key))).toBe(sha);

      // Each partial's PATCH went into its multipart upload as parts: its assembly copied no byte.
      for (const p of partials)
        expect((await assembly(idOf(p.location!))).detail).toMatch(
          /^(\d+) chunks \(\1 as parts\), \d+ bytes, multipart in/,
        );
      // Every partial was ≥ 5 MiB: concatenated on the storage server (UploadPartCopy).
      expect(await assembly(finalId)).toMatchObject({
        status: 'success',
        detail: expect.stringMatching(/^4 partial uploads, \d+ bytes, compose in/),
      });
      const finalRow = await uploadRow(finalId);
      expect(finalRow).toMatchObject({ tus_concat: 'final', status: 'complete', object_key: input[0].object_key });
      // The partials are gone: rows, chunk rows, their objects and chunk objects.
      for (const p of partials) {
        const id = idOf(p.location!);
        await waitFor('partial removed', async () => !(await uploadRow(id)));
        expect(await rows(id)).toHaveLength(0);
        expect(await t.keysUnder(`uploads/${id}/`)).toEqual([]);
        expect(await t.keysUnder(`chunks/${id}/`)).toEqual([]);
      }
      const head = await t.head(final.location!);
      expect(head.status).toBe(200);
      expect(head.headers.get('upload-offset')).toBe(String(size));
      expect(head.headers.get('upload-length')).toBe(String(size));
      expect(head.headers.get('upload-concat')).toBe(final.concat);
    });
  });

  describe('protocol (raw HTTP)', () => {
    it('advertises concatenation', async () => {
      const res = await stack.api('/v1/tus/', { method: 'OPTIONS', key: null });
      expect(res.headers.get('tus-extension')?.split(',')).toContain('concatenation');
    });

    it('partials, a final created before they are complete, its HEAD, PATCH 403, reuse 409, bad references; assembled once complete', async () => {
      const a = Buffer.from(Buffer.alloc(3 * MiB).map((_, i) => (i * 7) % 251));
      const b = Buffer.from(Buffer.alloc(MiB + 123).map((_, i) => (i * 13) % 253));
      const whole = Buffer.concat([a, b]);
      const partial = async (length: number) => {
        const res = await createRaw({ 'Upload-Length': String(length), 'Upload-Concat': 'partial' });
        expect(res.status).toBe(201);
        return res.headers.get('location')!;
      };
      const aUrl = await partial(a.length);
      const bUrl = await partial(b.length);
      const headA = await t.head(aUrl);
      expect(headA.headers.get('upload-concat')).toBe('partial');
      expect((await t.patch(aUrl, 0, a)).status).toBe(204);
      expect((await uploadRow(idOf(aUrl))).tus_concat).toBe('partial');
      // A partial is assembled into its own object, never an input; no job anywhere.
      await t.assembled(idOf(aUrl));
      // Nor can it be made a job's input by its id: only the final can.
      const jobs = async () => Number((await t.db.query('SELECT count(*) AS n FROM jobs')).rows[0].n);
      const jobsBefore = await jobs();
      const attach = await stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ input: [{ type: 'upload', upload_id: idOf(aUrl) }] }),
      });
      expect(attach.status).toBe(400);
      expect(((await attach.json()) as { error: { details: { field: string }[] } }).error.details[0].field).toBe(
        'upload_id',
      );
      expect(await jobs()).toBe(jobsBefore);
      expect((await uploadRow(idOf(aUrl))).concat_final_id).toBeNull();

      const finals = async () =>
        Number((await t.db.query("SELECT count(*) AS n FROM uploads WHERE tus_concat = 'final'")).rows[0].n);
      const before = await finals();

      // Errors first (nothing stored by any of them).
      const normal = await t.createUpload(10);
      const bad = [
        [{ 'Upload-Concat': `final;${aUrl} ${normal}` }, 400, 'not a partial'],
        [{ 'Upload-Concat': `final;${aUrl} /v1/tus/00000000-0000-4000-8000-000000000000` }, 404, 'unknown id'],
        [{ 'Upload-Concat': `final;${aUrl} https://elsewhere.example/nothing` }, 400, 'not an upload url'],
        [{ 'Upload-Concat': 'final;' }, 400, 'no partial'],
        [{ 'Upload-Concat': 'whole' }, 400, 'bad value'],
        [{ 'Upload-Concat': `final;${aUrl} ${aUrl}` }, 400, 'named twice'],
        [{ 'Upload-Concat': `final;${aUrl} ${bUrl}`, 'Upload-Length': '5' }, 400, 'Upload-Length'],
      ] as const;
      for (const [headers, status, why] of bad) {
        const res = await createRaw({ ...headers });
        expect([why, res.status]).toEqual([why, status]);
        const body = (await res.json()) as { error: { code: string } };
        expect(body.error.code).toBe(status === 404 ? 'not_found' : 'invalid_input');
      }
      // Another key's partial: 404 (as any tus resource of another key).
      const other = await createRaw({ 'Upload-Concat': `final;${aUrl} ${bUrl}` }, stack.otherKey);
      expect(other.status).toBe(404);
      expect(await finals()).toBe(before);
      expect((await uploadRow(idOf(aUrl))).concat_final_id).toBeNull();

      // The final, created while b is still empty; path and absolute url both taken.
      const created = await createRaw({
        'Upload-Concat': `final;${aUrl} ${new URL(bUrl).pathname}`,
        'Upload-Metadata': metadata({ filename: 'ab.bin', checksum_sha256: sha256(whole) }),
      });
      expect(created.status).toBe(201);
      const finalUrl = created.headers.get('location')!;
      // The partials are the final's now, and expire with it.
      const taken = await t.db.query<{ id: string; concat_final_id: string | null; expires_at: Date }>(
        'SELECT id, concat_final_id, expires_at FROM uploads WHERE id = ANY($1::uuid[])',
        [[idOf(aUrl), idOf(bUrl), idOf(finalUrl)]],
      );
      const finalExpiry = taken.rows.find((r) => r.id === idOf(finalUrl))!.expires_at.getTime();
      for (const r of taken.rows.filter((r) => r.id !== idOf(finalUrl)))
        expect([r.concat_final_id, r.expires_at.getTime()]).toEqual([idOf(finalUrl), finalExpiry]);
      const head = await t.head(finalUrl);
      expect(head.status).toBe(200);
      expect(head.headers.get('upload-concat')).toBe(`final;${aUrl} ${bUrl}`);
      expect(head.headers.get('upload-length')).toBe(String(whole.length));
      expect(head.headers.get('upload-offset')).toBeNull();
      const patchFinal = await t.patch(finalUrl, 0, Buffer.from('x'));
      expect(patchFinal.status).toBe(403);
      // A partial taken by one final cannot go into another.
      const again = await createRaw({ 'Upload-Concat': `final;${bUrl}` });
      expect(again.status).toBe(409);
      expect(((await again.json()) as { error: { code: string } }).error.code).toBe('conflict');
      expect(await finals()).toBe(before + 1);

      expect((await t.patch(bUrl, 0, b)).status).toBe(204);
      const done = await t.assembled(idOf(finalUrl));
      expect(done).toMatchObject({ size: whole.length, filename: 'ab.bin', status: 'complete' });
      // The first partial has 3 MiB (< 5 MiB): one bounded stream through the assembler.
      expect((await assembly(idOf(finalUrl))).detail).toMatch(/^2 partial uploads, \d+ bytes, stream in/);
      const row = await uploadRow(idOf(finalUrl));
      expect(await sha256OfStream(await t.store.get(row.object_key!))).toBe(sha256(whole));
      const headDone = await t.head(finalUrl);
      expect(headDone.headers.get('upload-offset')).toBe(String(whole.length));
      await waitFor('partials removed', async () => !(await uploadRow(idOf(aUrl))) && !(await uploadRow(idOf(bUrl))));
      expect(await t.keysUnder(`uploads/${idOf(aUrl)}/`)).toEqual([]);
    });
  });

  describe('job tokens and checks', () => {
    const partialAs = async (length: number, auth: { key?: string | null; token?: string }) => {
      const res = await createRaw(
        {
          'Upload-Length': String(length),
          'Upload-Concat': 'partial',
          ...(auth.token ? { 'X-Job-Token': auth.token } : {}),
        },
        auth.key,
      );
      expect(res.status).toBe(201);
      return res.headers.get('location')!;
    };

    it('a job token makes partials (not inputs of its job) and the final that fills its input; another job’s token gets 403', async () => {
      const mk = async () =>
        json(
          stack.api('/v1/jobs', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ process: false, input: [{ type: 'upload' }] }),
          }),
        );
      const [job, otherJob] = await Promise.all([mk(), mk()]);
      const one = Buffer.from(Buffer.alloc(MiB + 5).map((_, i) => i % 241));
      const two = Buffer.from(Buffer.alloc(2 * MiB).map((_, i) => (i * 3) % 239));
      const u1 = await partialAs(one.length, { key: null, token: job.token });
      const u2 = await partialAs(two.length, { key: null, token: job.token });
      const row = await t.db.query<{ job_id: string | null; input_id: string | null; scope_job_id: string }>(
        'SELECT job_id, input_id, scope_job_id FROM uploads WHERE id = $1',
        [idOf(u1)],
      );
      expect(row.rows[0]).toEqual({ job_id: null, input_id: null, scope_job_id: job.id });
      expect((await t.head(u1, undefined, { 'X-Job-Token': otherJob.token }, null)).status).toBe(403);
      expect((await t.patch(u1, 0, one, { 'X-Job-Token': otherJob.token }, null)).status).toBe(403);
      expect((await t.patch(u1, 0, one, { 'X-Job-Token': job.token }, null)).status).toBe(204);
      expect((await t.patch(u2, 0, two, { 'X-Job-Token': job.token }, null)).status).toBe(204);
      const concat = `final;${u1} ${u2}`;
      const meta = metadata({ filename: 'tok.bin' });
      const stolen = await createRaw(
        { 'Upload-Concat': concat, 'X-Job-Token': otherJob.token, 'Upload-Metadata': meta },
        null,
      );
      expect(stolen.status).toBe(403);
      const made = await createRaw(
        { 'Upload-Concat': concat, 'X-Job-Token': job.token, 'Upload-Metadata': meta },
        null,
      );
      expect(made.status).toBe(201);
      expect(made.headers.get('kiln-job-id')).toBe(job.id);
      const input = await waitFor('input ready', async () => {
        const j = await json(stack.api(`/v1/jobs/${job.id}`));
        return j.input[0].status === 'ready' ? j : undefined;
      });
      expect(input.input).toHaveLength(1);
      expect(input.input[0]).toMatchObject({ filename: 'tok.bin', size: one.length + two.length });
      const key = (
        await t.db.query<{ object_key: string }>('SELECT object_key FROM inputs WHERE job_id = $1', [job.id])
      ).rows[0].object_key;
      expect(await sha256OfStream(await t.store.get(key))).toBe(sha256(Buffer.concat([one, two])));
    });

    it('a final whose assembled bytes do not match checksum_sha256 fails, and its partials are removed', async () => {
      const bytes = Buffer.from(Buffer.alloc(MiB).map((_, i) => i % 199));
      const u = await partialAs(bytes.length, {});
      expect((await t.patch(u, 0, bytes)).status).toBe(204);
      const made = await createRaw({
        'Upload-Concat': `final;${u}`,
        'Upload-Metadata': metadata({ filename: 'bad.bin', checksum_sha256: 'a'.repeat(64) }),
      });
      expect(made.status).toBe(201);
      const finalId = idOf(made.headers.get('location')!);
      const failed = await waitFor('final failed', async () => {
        const v = await json(stack.api(`/v1/uploads/${finalId}`));
        return v.status === 'failed' ? v : undefined;
      });
      expect(failed.error).toMatch(/checksum mismatch/);
      expect(await uploadRow(idOf(u))).toBeUndefined();
      expect(await t.keysUnder(`uploads/${idOf(u)}/`)).toEqual([]);
    });

    it('DELETE of a final removes its partial uploads: one assembled, one with a multipart upload still open', async () => {
      const a = Buffer.from(Buffer.alloc(MiB).map((_, i) => i % 197));
      const b = Buffer.from(Buffer.alloc(6 * MiB).map((_, i) => i % 193));
      const aUrl = await partialAs(a.length, {});
      const bUrl = await partialAs(b.length, {});
      expect((await t.patch(aUrl, 0, a)).status).toBe(204);
      await t.assembled(idOf(aUrl));
      // 5 MiB of b: one part of its multipart upload, which stays open; the rest never comes.
      expect((await t.patch(bUrl, 0, b.subarray(0, 5 * MiB))).status).toBe(204);
      const made = await createRaw({ 'Upload-Concat': `final;${aUrl} ${bUrl}` });
      expect(made.status).toBe(201);
      const finalPath = new URL(made.headers.get('location')!, stack.url).pathname;
      const open = await uploadRow(idOf(bUrl));
      const held = await t.store.listParts(open.multipart_key!, open.multipart_id!);
      expect(held.map((p) => [p.partNumber, p.size])).toEqual([[1, 5 * MiB]]);
      const assembledKey = (await uploadRow(idOf(aUrl))).object_key!;
      expect(await t.keysUnder(`uploads/${idOf(aUrl)}/`)).toEqual([assembledKey]);

      expect((await stack.api(finalPath, { method: 'DELETE', headers: TUS })).status).toBe(204);
      for (const u of [finalPath, aUrl, bUrl]) expect(await uploadRow(idOf(u))).toBeUndefined();
      expect((await t.head(aUrl)).status).toBe(404);
      expect(await t.keysUnder(`uploads/${idOf(aUrl)}/`)).toEqual([]);
      expect(await t.keysUnder(`chunks/${idOf(bUrl)}/`)).toEqual([]);
      await expect(t.store.listParts(open.multipart_key!, open.multipart_id!)).rejects.toMatchObject({
        code: 'not_found',
      });
    });
  });

  describe('PATCH bytes of 5 MiB or more are S3 multipart parts', () => {
    let file: string;
    let fileSha: string;
    const SIZE = 30 * MiB + 4321;
    beforeAll(async () => {
      file = path.join(t.tmp.dir, 'parts.bin');
      fileSha = await makeRandomFile(file, SIZE);
    });

    it('tus-js-client with chunkSize 5 MiB: every PATCH is a part, no chunk object; assembly completes the multipart upload', async () => {
      const first = t.runClient(file, {
        endpoint: `${stack.url}/v1/tus/`,
        chunkSize: 5 * MiB,
        metadata: { filename: 'parts.bin' },
        stopAt: 21 * MiB,
      });
      expect(await first.done).toBe('aborted');
      const url = first.upload().url!;
      const id = idOf(url);
      await waitFor(
        'the cut-off PATCH to be stored',
        async () => (await t.redis.exists(`${stack.env.KILN_QUEUE_PREFIX}:tus:lock:${id}`)) === 0,
        30_000,
        50,
      );
      const stored = await rows(id);
      expect(stored.length).toBeGreaterThanOrEqual(4);
      // Every stored 5 MiB PATCH is a part (possibly the cut-off one's bytes as a small object).
      const full = stored.filter((r) => Number(r.end) - Number(r.start) + 1 === 5 * MiB);
      expect(full.length).toBeGreaterThanOrEqual(4);
      for (const r of full) expect(r).toMatchObject({ object_key: null, part_number: expect.any(Number) });
      const objects = await t.keysUnder(`chunks/${id}/`);
      expect(objects.length).toBe(stored.filter((r) => r.object_key !== null).length);
      expect(objects.length).toBeLessThanOrEqual(1);

      const second = t.runClient(file, { uploadUrl: url, chunkSize: 5 * MiB });
      expect(await second.done).toBe('done');
      await t.assembled(id);
      const all = await rows(id);
      const parts = all.filter((r) => r.part_number !== null);
      const row = await uploadRow(id);
      if (parts.length === all.length) expect(row.object_key).toBe(row.multipart_key);
      expect(parts.length).toBeGreaterThanOrEqual(all.length - 1);
      expect(await sha256OfStream(await t.store.get(row.object_key!))).toBe(fileSha);
      expect(await t.keysUnder(`chunks/${id}/`)).toEqual([]);
    });

    it('a PATCH of 5 MiB..KILN_CHUNK_SIZE_MAX with Content-Length streams into one part; one cut off keeps nothing, sent again it completes', async () => {
      const url = await t.createUpload(SIZE, { filename: 'one-part.bin' });
      const id = idOf(url);
      expect((await t.patch(url, 0, await readRange(file, 0, CHUNK_MAX - 1))).status).toBe(204);
      const one = (await rows(id)).map((r) => [Number(r.start), Number(r.end), r.object_key, r.part_number !== null]);
      expect(one).toEqual([[0, CHUNK_MAX - 1, null, true]]);

      // The next CHUNK_MAX bytes declared, 5 MiB of them written while the gateway holds the upload's
      // lock, then the connection dropped.
      const next = await readRange(file, CHUNK_MAX, 2 * CHUNK_MAX - 1);
      const lockKey = `${stack.env.KILN_QUEUE_PREFIX}:tus:lock:${id}`;
      const u = new URL(url);
      const req = http.request({
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'PATCH',
        headers: {
          ...TUS,
          'X-Api-Key': stack.apiKey,
          'Content-Type': OFFSET_STREAM,
          'Upload-Offset': String(CHUNK_MAX),
          'Content-Length': String(next.length),
        },
      });
      req.on('error', () => undefined);
      req.write(next.subarray(0, 5 * MiB));
      await waitFor('the gateway to hold the upload', async () => (await t.redis.exists(lockKey)) === 1, 30_000, 20);
      req.destroy();
      await waitFor('the cut-off PATCH to end', async () => (await t.redis.exists(lockKey)) === 0, 30_000, 20);
      expect(await t.offsetOf(url)).toBe(CHUNK_MAX);
      expect((await rows(id)).length).toBe(1);
      expect(await t.keysUnder(`chunks/${id}/`)).toEqual([]);
      const row = await uploadRow(id);
      expect((await t.store.listParts(row.multipart_key!, row.multipart_id!)).map((p) => p.size)).toEqual([CHUNK_MAX]);

      for (let at = CHUNK_MAX; at < SIZE; at += CHUNK_MAX) {
        const piece = await readRange(file, at, Math.min(at + CHUNK_MAX, SIZE) - 1);
        expect((await t.patch(url, at, piece)).status).toBe(204);
      }
      await t.assembled(id);
      const all = await rows(id);
      expect(all.length).toBe(Math.ceil(SIZE / CHUNK_MAX));
      expect(all.every((r) => r.object_key === null && r.part_number !== null)).toBe(true);
      const done = await uploadRow(id);
      expect(await sha256OfStream(await t.store.get(done.object_key!))).toBe(fileSha);
    });

    it('one streamed PATCH without Content-Length, then the rest: all parts, assembled by one CompleteMultipartUpload', async () => {
      const url = await t.createUpload(SIZE, { filename: 'streamed.bin' });
      const id = idOf(url);
      const cut = 23 * MiB;
      // Chunked transfer encoding: the gateway cannot know the body's length in advance.
      const status = await new Promise<number>((resolve, reject) => {
        const u = new URL(url);
        const req = http.request(
          {
            host: u.hostname,
            port: u.port,
            path: u.pathname,
            method: 'PATCH',
            headers: {
              ...TUS,
              'X-Api-Key': stack.apiKey,
              'Content-Type': OFFSET_STREAM,
              'Upload-Offset': '0',
              'Transfer-Encoding': 'chunked',
            },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode!);
          },
        );
        req.on('error', reject);
        (async () => {
          for (let at = 0; at < cut; at += MiB) {
            const piece = await readRange(file, at, Math.min(at + MiB, cut) - 1);
            if (!req.write(piece)) await new Promise((r) => req.once('drain', r));
          }
          req.end();
        })().catch(reject);
      });
      expect(status).toBe(204);
      expect(await t.offsetOf(url)).toBe(cut);
      const first = await rows(id);
      expect(first.map((r) => Number(r.end) - Number(r.start) + 1)).toEqual([6 * MiB, 6 * MiB, 6 * MiB, 5 * MiB]);
      expect(first.every((r) => r.object_key === null && r.part_number !== null)).toBe(true);
      expect(await t.keysUnder(`chunks/${id}/`)).toEqual([]);

      const rest = await readRange(file, cut, SIZE - 1);
      expect((await t.patch(url, cut, rest)).status).toBe(204);
      await t.assembled(id);
      const all = await rows(id);
      expect(all.every((r) => r.object_key === null && r.part_number !== null)).toBe(true);
      expect(all.reduce((n, r) => n + Number(r.end) - Number(r.start) + 1, 0)).toBe(SIZE);
      const row = await uploadRow(id);
      expect(row.object_key).toBe(row.multipart_key);
      expect((await assembly(id)).detail).toMatch(
        new RegExp(`^${all.length} chunks \\(${all.length} as parts\\), ${SIZE} bytes, multipart in`),
      );
      expect(await sha256OfStream(await t.store.get(row.object_key!))).toBe(fileSha);
    });
  });
});
