// Direct uploads end to end: the client sends the bytes straight to S3 (radosgw) with URLs the
// gateway presigns (part PUTs that sign their Content-Length, or a POST form), the gateway only
// keeps the books; the assembler, converter, PostgreSQL and Redis are the real processes.
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Client as Minio } from 'minio';
import { Client } from 'pg';
import { Readable } from 'node:stream';
import { makeAudio, makeTempDir } from '../libs/media/src/testing';
import type { MinioObjectStore } from '../libs/storage/src/minio-object-store';
import { jobEnded } from '../test/e2e-helpers/jobs';
import { keysUnder, objectStoreOf } from '../test/e2e-helpers/object-store';
import { assembledUpload, runMaintenance } from '../test/e2e-helpers/uploads';
import { inParallel, makeRandomFile, readRange, sha256OfStream } from '../test/files';
import { parseMetrics, value } from '../test/prometheus';
import { Stack, freePort, json, waitFor } from '../test/stack';

jest.setTimeout(300_000);

const MiB = 1024 * 1024;
/** The shortest URL expiry the configuration takes (KILN_DIRECT_URL_TTL_SECONDS ≥ 60). */
const TTL = 60;

// biome-ignore lint/suspicious/noExplicitAny: the API's JSON, checked by the assertions
type Json = any;

describe('direct uploads (presigned S3 URLs; real gateway, assembler, converter, radosgw)', () => {
  const stack = new Stack();
  let store: MinioObjectStore;
  let admin: Minio;
  let db: Client;
  let tmp: { dir: string; remove: () => Promise<void> };
  /** A part URL signed at the start, checked once it has expired (the last test). */
  let expiring: { session: Json; signed: Json };

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-direct-');
    await stack.start({ gateways: 1, converters: 1, env: { KILN_DIRECT_URL_TTL_SECONDS: String(TTL) } });
    store = objectStoreOf(stack);
    const s3 = new URL(stack.env.S3_ENDPOINT);
    admin = new Minio({
      endPoint: s3.hostname,
      port: Number(s3.port || 80),
      useSSL: false,
      accessKey: stack.env.S3_ACCESS_KEY,
      secretKey: stack.env.S3_SECRET_KEY,
      region: 'us-east-1',
      pathStyle: true,
    });
    db = new Client({ connectionString: stack.db.url });
    await db.connect();
    const session = await json(
      post('/v1/uploads', { filename: 'late.bin', size: 1000, mode: 'direct', transfer: 'multipart' }),
    );
    const signed = await sign(session, [1]);
    expiring = { session, signed: { ...signed.parts[0], expires_at: signed.expires_at } };
  });

  afterAll(async () => {
    await db?.end();
    await stack.stop();
    await tmp?.remove();
  });

  const post = (p: string, body: unknown, key?: string | null, headers: Record<string, string> = {}) =>
    stack.api(p, {
      method: 'POST',
      key,
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  /** Multipart uploads S3 holds open under a prefix. */
  const openMultipart = async (prefix: string) =>
    (await admin.listIncompleteUploadsQuery(stack.env.S3_BUCKET, prefix, '', '', '')).uploads.length;

  const chunkRows = async (uploadId: string) =>
    (
      await db.query(
        'SELECT start, "end", part_number, etag, object_key FROM upload_chunks WHERE upload_id = $1 ORDER BY start',
        [uploadId],
      )
    ).rows;

  const uploadRow = async (uploadId: string) =>
    (await db.query('SELECT * FROM uploads WHERE id = $1', [uploadId])).rows[0];

  const sign = async (session: Json, numbers: number[], key?: string | null) => {
    const res = await post(`/v1/uploads/${session.id}/parts`, { part_numbers: numbers }, key);
    expect(res.status).toBe(200);
    return json(res);
  };

  /** PUTs bytes of `file` to a signed part URL (exactly the part's range unless `body` is given). */
  const putPart = async (signed: Json, session: Json, file: string, body?: Buffer) => {
    const start = (signed.part_number - 1) * session.part_size;
    const bytes = body ?? (await readRange(file, start, start + signed.size - 1));
    return fetch(signed.url, { method: 'PUT', body: bytes });
  };

  const sendParts = async (session: Json, file: string, numbers: number[]) => {
    const signed = await sign(session, numbers);
    await inParallel(signed.parts, 4, async (p: Json) => {
      const res = await putPart(p, session, file);
      if (res.status !== 200) throw new Error(`part ${p.part_number}: ${res.status} ${await res.text()}`);
      expect(res.headers.get('etag')).toMatch(/^"[0-9a-f]{32}"$/);
    });
  };

  const postForm = async (session: Json, file: Buffer, filename: string) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(session.form_post_params as Record<string, string>)) form.append(k, v);
    form.append('file', new Blob([file], { type: session.content_type ?? 'application/octet-stream' }), filename);
    return fetch(session.form_post_url, { method: 'POST', body: form });
  };

  const storedSha = async (key: string) => sha256OfStream(await store.get(key));

  /** The gateway's direct-upload counters for multipart sessions (its /metrics). */
  async function directCounters() {
    const res = await fetch(`${stack.url}/metrics`);
    expect(res.status).toBe(200);
    const samples = parseMetrics(await res.text());
    const uploads = (event: string) =>
      value(samples, 'kiln_direct_uploads_total', { transfer: 'multipart', event }) ?? 0;
    return {
      opened: uploads('opened'),
      completed: uploads('completed'),
      refused: uploads('refused'),
      bytes: value(samples, 'kiln_direct_upload_bytes_total', { transfer: 'multipart' }) ?? 0,
      partUrls: value(samples, 'kiln_direct_part_urls_signed_total') ?? 0,
    };
  }

  it('GET /v1/uploads/modes names direct as offered and recommended, proxied as the default', async () => {
    const res = await stack.api('/v1/uploads/modes');
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({
      modes: ['direct', 'proxied'],
      default: 'proxied',
      recommended: 'direct',
      direct: {
        part_size: 16 * MiB,
        part_size_min: 5 * MiB,
        max_parts: 10_000,
        form_max: 16 * MiB,
        url_ttl_seconds: TTL,
      },
    });
  });

  it('the gateway put the bucket CORS rule at start: a browser preflight for a part PUT is allowed, ETag exposed', async () => {
    const preflight = await fetch(expiring.signed.url, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'PUT' },
    });
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get('access-control-allow-origin')).toMatch(/^(\*|https:\/\/app\.example)$/);
    expect(preflight.headers.get('access-control-expose-headers')).toBe('ETag');
  });

  it('a 40 MiB file in 3 parts PUT to S3 in parallel: completed in place, same sha256, nothing left over', async () => {
    const size = 40 * MiB + 123;
    const file = path.join(tmp.dir, 'big.bin');
    const sha = await makeRandomFile(file, size);
    const counted = await directCounters();
    const created = await post('/v1/uploads', { filename: 'big.bin', size, mode: 'direct', checksum_sha256: sha });
    expect(created.status).toBe(201);
    const session = await json(created);
    expect(session).toMatchObject({
      mode: 'direct',
      transfer: 'multipart',
      part_size: 16 * MiB,
      part_count: 3,
      parts: [],
      parts_url: `${stack.url}/v1/uploads/${session.id}/parts`,
      status: 'uploading',
      received_bytes: 0,
    });
    expect(JSON.stringify(session)).not.toContain((await uploadRow(session.id)).multipart_id);
    expect(await openMultipart(`uploads/${session.id}/`)).toBe(1);

    const signed = await sign(session, [1, 2, 3]);
    expect(signed.parts.map((p: Json) => [p.part_number, p.size, p.method, p.headers])).toEqual([
      [1, 16 * MiB, 'PUT', { 'Content-Length': String(16 * MiB) }],
      [2, 16 * MiB, 'PUT', { 'Content-Length': String(16 * MiB) }],
      [3, 8 * MiB + 123, 'PUT', { 'Content-Length': String(8 * MiB + 123) }],
    ]);
    expect(signed.parts[0].url).toContain('X-Amz-SignedHeaders=content-length%3Bhost');
    expect(signed.expires_at).toBeGreaterThan(Date.now() / 1000 + TTL - 5);
    await inParallel(signed.parts, 3, async (p: Json) => {
      const res = await putPart(p, session, file);
      expect(res.status).toBe(200);
    });
    // Nothing passed through the gateway, and it has recorded nothing yet.
    expect(await chunkRows(session.id)).toEqual([]);
    const held = await json(stack.api(`/v1/uploads/${session.id}`));
    expect(held.parts.map((p: Json) => [p.part_number, p.size])).toEqual([
      [1, 16 * MiB],
      [2, 16 * MiB],
      [3, 8 * MiB + 123],
    ]);
    expect(held).toMatchObject({ received: [[0, size - 1]], received_bytes: size, offset: size });

    const done = await post(`/v1/uploads/${session.id}/complete`, {});
    expect(done.status).toBe(200);
    const assembled = await assembledUpload(stack, session.id);
    expect(assembled).toMatchObject({ status: 'complete', assembled: true, mode: 'direct', part_count: 3 });
    expect(assembled.parts).toHaveLength(3);
    // The completion path of every upload: chunk rows (here the parts), CompleteMultipartUpload in place.
    const rows = await chunkRows(session.id);
    expect(rows.map((r) => [Number(r.start), Number(r.end), r.part_number, r.object_key])).toEqual([
      [0, 16 * MiB - 1, 1, null],
      [16 * MiB, 32 * MiB - 1, 2, null],
      [32 * MiB, size - 1, 3, null],
    ]);
    const row = await uploadRow(session.id);
    expect(row).toMatchObject({ status: 'complete', object_key: `uploads/${session.id}/big.bin` });
    expect(Number(row.received_bytes)).toBe(size);
    expect(await keysUnder(store, `uploads/${session.id}/`)).toEqual([`uploads/${session.id}/big.bin`]);
    expect(await storedSha(`uploads/${session.id}/big.bin`)).toBe(sha);
    expect(await keysUnder(store, `chunks/${session.id}/`)).toEqual([]);
    // The metrics count the session, its 3 part URLs and its bytes, which never reached the gateway.
    expect(await directCounters()).toEqual({
      ...counted,
      opened: counted.opened + 1,
      completed: counted.completed + 1,
      bytes: counted.bytes + size,
      partUrls: counted.partUrls + 3,
    });
    expect(await openMultipart(`uploads/${session.id}/`)).toBe(0);
    // Completing again answers the current state.
    const again = await post(`/v1/uploads/${session.id}/complete`, {});
    expect(again.status).toBe(200);
    expect(await json(again)).toMatchObject({ status: 'complete', assembled: true });
  });

  it('resume after a lost client: GET shows the parts S3 holds, only the missing one is sent, complete', async () => {
    const size = 12 * MiB + 7;
    const file = path.join(tmp.dir, 'resume.bin');
    const sha = await makeRandomFile(file, size);
    const session = await json(
      post('/v1/uploads', { filename: 'resume.bin', size, mode: 'direct', part_size: 5 * MiB, checksum_sha256: sha }),
    );
    expect(session).toMatchObject({ transfer: 'multipart', part_size: 5 * MiB, part_count: 3 });
    await sendParts(session, file, [1, 3]);
    // The client is gone; a new one asks what S3 holds.
    const state = await json(stack.api(`/v1/uploads/${session.id}`));
    expect(state.parts.map((p: Json) => p.part_number)).toEqual([1, 3]);
    expect(state).toMatchObject({
      received: [
        [0, 5 * MiB - 1],
        [10 * MiB, size - 1],
      ],
      received_bytes: 7 * MiB + 7,
      offset: 5 * MiB,
      status: 'uploading',
    });
    const head = await stack.api(`/v1/uploads/${session.id}`, { method: 'HEAD' });
    expect(head.headers.get('upload-offset')).toBe(String(5 * MiB));
    expect(head.headers.get('x-received-bytes')).toBe(String(7 * MiB + 7));
    const early = await post(`/v1/uploads/${session.id}/complete`, {});
    expect(early.status).toBe(400);
    expect((await json(early)).error).toMatchObject({
      code: 'invalid_input',
      details: [{ field: 'parts', message: 'missing part 2', part_number: 2 }],
    });
    // The refused complete changed nothing.
    expect(await chunkRows(session.id)).toEqual([]);
    expect((await uploadRow(session.id)).status).toBe('uploading');
    const held = new Set(state.parts.map((p: Json) => p.part_number));
    const missing = Array.from({ length: state.part_count }, (_, i) => i + 1).filter((n) => !held.has(n));
    expect(missing).toEqual([2]);
    await sendParts(session, file, missing);
    expect((await post(`/v1/uploads/${session.id}/complete`, {})).status).toBe(200);
    await assembledUpload(stack, session.id);
    expect(await storedSha(`uploads/${session.id}/resume.bin`)).toBe(sha);
    expect((await chunkRows(session.id)).map((r) => r.part_number)).toEqual([1, 2, 3]);
  });

  it('a small WAV by POST form into a job (job token) → mp3: the stored input is the file, the output downloads', async () => {
    const wavPath = await makeAudio({ path: path.join(tmp.dir, 'voice.wav'), seconds: 2, format: 'wav' });
    const wav = await readFile(wavPath);
    const wavSha = await sha256OfStream(Readable.from([wav]));
    const job = await json(post('/v1/jobs', { input: [{ type: 'upload' }], conversion: [{ target: 'mp3' }] }));
    const asJob = { 'X-Job-Token': job.token };
    const created = await post(
      '/v1/uploads',
      { filename: 'voice.wav', size: wav.length, job_id: job.id, mode: 'direct', content_type: 'audio/wav' },
      null,
      asJob,
    );
    expect(created.status).toBe(201);
    const session = await json(created);
    expect(session).toMatchObject({ mode: 'direct', transfer: 'form', input_id: job.input[0].id });
    expect(session.form_post_params).toMatchObject({ 'Content-Type': 'audio/wav' });
    expect(session.form_post_expires_at).toBeGreaterThan(Date.now() / 1000);
    // A client that lost the creation's answer resumes from GET, which signs a fresh form.
    const resumed = await json(stack.api(`/v1/uploads/${session.id}`, { key: null, headers: asJob }));
    expect(resumed).toMatchObject({ transfer: 'form', received_bytes: 0, form_post_url: session.form_post_url });
    expect(resumed.form_post_params.key).toBe(session.form_post_params.key);
    const posted = await postForm({ ...session, form_post_params: resumed.form_post_params }, wav, 'voice.wav');
    expect(posted.status).toBe(204);
    const done = await stack.api(`/v1/uploads/${session.id}/complete`, { method: 'POST', key: null, headers: asJob });
    expect(done.status).toBe(200);
    const ended = await jobEnded(stack, job.id);
    expect(ended.status.code).toBe('completed');
    const input = (await db.query('SELECT object_key, status FROM inputs WHERE id = $1', [job.input[0].id])).rows[0];
    expect(input.status).toBe('ready');
    expect(await storedSha(input.object_key)).toBe(wavSha);
    // The form's object was copied into place and removed, as a proxied upload's chunks are.
    expect(await keysUnder(store, `chunks/${session.id}/`)).toEqual([]);
    const rows = await chunkRows(session.id);
    expect(rows.map((r) => [Number(r.start), Number(r.end), r.part_number])).toEqual([[0, wav.length - 1, null]]);
    const out = ended.output[0];
    expect(out.filename).toBe('voice.mp3');
    const download = await fetch(out.uri);
    expect(download.status).toBe(200);
    const mp3 = Buffer.from(await download.arrayBuffer());
    expect(mp3.length).toBe(out.size);
    expect(mp3.subarray(0, 3).toString('latin1') === 'ID3' || mp3[0] === 0xff).toBe(true);
  });

  it('a standalone direct upload, assembled, then attached to a job as {type: "upload", upload_id}', async () => {
    const wavPath = await makeAudio({ path: path.join(tmp.dir, 'later.wav'), seconds: 2, format: 'wav' });
    const size = (await stat(wavPath)).size;
    const session = await json(
      post('/v1/uploads', {
        filename: 'later.wav',
        size,
        mode: 'direct',
        transfer: 'multipart',
        content_type: 'audio/wav',
      }),
    );
    expect(session).toMatchObject({ part_count: 1, job_id: null });
    await sendParts(session, wavPath, [1]);
    expect((await post(`/v1/uploads/${session.id}/complete`, {})).status).toBe(200);
    await assembledUpload(stack, session.id);
    const job = await json(
      post('/v1/jobs', { input: [{ type: 'upload', upload_id: session.id }], conversion: [{ target: 'mp3' }] }),
    );
    expect(job.input[0]).toMatchObject({ type: 'upload', filename: 'later.wav', size, status: 'ready' });
    const ended = await jobEnded(stack, job.id);
    expect(ended.status.code).toBe('completed');
    expect(ended.output.map((o: Json) => o.filename)).toEqual(['later.mp3']);
    expect(await json(stack.api(`/v1/uploads/${session.id}`))).toMatchObject({ job_id: job.id, status: 'complete' });
  });

  it('a declared checksum_sha256 that the bytes do not match fails the upload, as for a proxied one', async () => {
    const bytes = randomBuffer(3000);
    const session = await json(
      post('/v1/uploads', {
        filename: 'bad.bin',
        size: bytes.length,
        mode: 'direct',
        checksum_sha256: 'ab'.repeat(32),
      }),
    );
    expect((await postForm(session, bytes, 'bad.bin')).status).toBe(204);
    expect((await post(`/v1/uploads/${session.id}/complete`, {})).status).toBe(200);
    const failed = await waitFor('upload failed', async () => {
      const u = await json(stack.api(`/v1/uploads/${session.id}`));
      return u.status === 'failed' ? u : undefined;
    });
    expect(failed.error).toContain('checksum mismatch');
    expect(await keysUnder(store, `uploads/${session.id}/`)).toEqual([]);
    expect(await keysUnder(store, `chunks/${session.id}/`)).toEqual([]);
    const again = await post(`/v1/uploads/${session.id}/complete`, {});
    expect(again.status).toBe(409);
  });

  describe('refusals', () => {
    it('a part bigger or smaller than signed: S3 answers 403 and holds nothing; the session is unchanged', async () => {
      const size = 6 * MiB;
      const file = path.join(tmp.dir, 'sizes.bin');
      await makeRandomFile(file, size);
      const session = await json(
        post('/v1/uploads', { filename: 'sizes.bin', size, mode: 'direct', transfer: 'multipart', part_size: 5 * MiB }),
      );
      const [p1, p2] = (await sign(session, [1, 2])).parts;
      expect([p1.size, p2.size]).toEqual([5 * MiB, MiB]);
      for (const body of [randomBuffer(5 * MiB + 1), randomBuffer(5 * MiB - 1)]) {
        const res = await putPart(p1, session, file, body);
        expect(res.status).toBe(403);
        expect(await res.text()).toContain('SignatureDoesNotMatch');
      }
      expect((await putPart(p2, session, file, randomBuffer(MiB + 10))).status).toBe(403);
      const state = await json(stack.api(`/v1/uploads/${session.id}`));
      expect(state).toMatchObject({ parts: [], received: [], received_bytes: 0, offset: 0 });
      expect(await chunkRows(session.id)).toEqual([]);
      // The exact bytes still go in.
      expect((await putPart(p1, session, file)).status).toBe(200);
      expect((await json(stack.api(`/v1/uploads/${session.id}`))).parts.map((p: Json) => p.part_number)).toEqual([1]);
    });

    it('complete: 400 listing the missing parts, and a part of the wrong size (total differs) 400 naming it', async () => {
      const size = 11 * MiB;
      const file = path.join(tmp.dir, 'gaps.bin');
      await makeRandomFile(file, size);
      const counted = await directCounters();
      const session = await json(
        post('/v1/uploads', { filename: 'gaps.bin', size, mode: 'direct', part_size: 5 * MiB }),
      );
      expect(session.part_count).toBe(3);
      const none = await post(`/v1/uploads/${session.id}/complete`, {});
      expect(none.status).toBe(400);
      expect((await json(none)).error.details.map((d: Json) => d.part_number)).toEqual([1, 2, 3]);
      await sendParts(session, file, [2]);
      const gaps = await json(post(`/v1/uploads/${session.id}/complete`, {}));
      expect(gaps.error.details).toEqual([
        { field: 'parts', message: 'missing part 1', part_number: 1 },
        { field: 'parts', message: 'missing part 3', part_number: 3 },
      ]);
      // A client holding S3 credentials could store a part of another size; the gateway's URLs cannot.
      const row = await uploadRow(session.id);
      await sendParts(session, file, [1]);
      await store.putPart(row.multipart_key, row.multipart_id, 3, Readable.from([randomBuffer(100)]), 100);
      const total = await post(`/v1/uploads/${session.id}/complete`, {});
      expect(total.status).toBe(400);
      expect((await json(total)).error).toMatchObject({
        code: 'invalid_input',
        details: [{ field: 'parts', message: `part 3 has 100 bytes, expected ${MiB}`, part_number: 3 }],
      });
      expect(await chunkRows(session.id)).toEqual([]);
      expect(await uploadRow(session.id)).toMatchObject({ status: 'uploading', completed_at: null });
      expect(await openMultipart(`uploads/${session.id}/`)).toBe(1);
      // Three refused completes; nothing completed.
      expect(await directCounters()).toMatchObject({
        opened: counted.opened + 1,
        completed: counted.completed,
        refused: counted.refused + 3,
        bytes: counted.bytes,
      });
    });

    it('part numbers out of range (0, part_count + 1, 1001 of them, not whole) are 400 naming part_numbers', async () => {
      const session = await json(
        post('/v1/uploads', { filename: 'range.bin', size: 12 * MiB, mode: 'direct', part_size: 5 * MiB }),
      );
      for (const part_numbers of [[0], [4], [1, 4], Array.from({ length: 1001 }, (_, i) => i + 1), [1.5], [], 'all']) {
        const res = await post(`/v1/uploads/${session.id}/parts`, { part_numbers });
        expect(res.status).toBe(400);
        const error = (await json(res)).error;
        expect(error.code).toBe('invalid_input');
        expect(error.details[0].field).toMatch(/^part_numbers/);
      }
      const form = await json(post('/v1/uploads', { filename: 'f.bin', size: 10, mode: 'direct' }));
      const onForm = await post(`/v1/uploads/${form.id}/parts`, { part_numbers: [1] });
      expect(onForm.status).toBe(409);
      // A direct session takes no chunk through the gateway.
      const proxiedPut = await stack.api(`/v1/uploads/${session.id}`, {
        method: 'PUT',
        headers: { 'Content-Range': 'bytes 0-9/12582912' },
        body: Buffer.alloc(10),
      });
      expect(proxiedPut.status).toBe(409);
      const bad = await post('/v1/uploads', { filename: 'x.bin', size: 10, mode: 'direct', part_size: MiB });
      expect(bad.status).toBe(400);
      expect((await json(bad)).error.details[0].field).toBe('part_size');
      const formParts = await post('/v1/uploads', {
        filename: 'x.bin',
        size: 10,
        mode: 'direct',
        transfer: 'form',
        part_size: 5 * MiB,
      });
      expect(formParts.status).toBe(400);
      expect((await json(formParts)).error.details[0].field).toBe('part_size');
      const proxied = await json(post('/v1/uploads', { filename: 'x.bin', size: 10 }));
      expect(proxied.mode).toBe('proxied');
      for (const field of ['transfer', 'parts', 'parts_url', 'form_post_url'])
        expect(proxied).not.toHaveProperty(field);
      const proxiedParts = await post('/v1/uploads', { filename: 'x.bin', size: 10, part_size: 5 * MiB });
      expect(proxiedParts.status).toBe(400);
      expect((await json(proxiedParts)).error.details[0]).toEqual({
        field: 'part_size',
        message: 'only with mode "direct"',
      });
      const big = await post('/v1/uploads', {
        filename: 'x.bin',
        size: 6 * 1024 ** 3,
        mode: 'direct',
        transfer: 'form',
      });
      expect(big.status).toBe(400);
      expect((await json(big)).error.details[0].field).toBe('transfer');
    });

    it("another key's direct upload is 404 for GET, parts, complete and DELETE; another job's token is 403", async () => {
      const session = await json(
        post('/v1/uploads', { filename: 'mine.bin', size: 6 * MiB, mode: 'direct', transfer: 'multipart' }),
      );
      const other = stack.otherKey;
      const answers = [
        await stack.api(`/v1/uploads/${session.id}`, { key: other }),
        await post(`/v1/uploads/${session.id}/parts`, { part_numbers: [1] }, other),
        await post(`/v1/uploads/${session.id}/complete`, {}, other),
        await stack.api(`/v1/uploads/${session.id}`, { method: 'DELETE', key: other }),
      ];
      for (const res of answers) {
        expect(res.status).toBe(404);
        expect((await json(res)).error.code).toBe('not_found');
      }
      const job = await json(post('/v1/jobs', { process: false, conversion: [{ target: 'mp3' }] }));
      const byToken = await stack.api(`/v1/uploads/${session.id}/parts`, {
        method: 'POST',
        key: null,
        headers: { 'Content-Type': 'application/json', 'X-Job-Token': job.token },
        body: JSON.stringify({ part_numbers: [1] }),
      });
      expect(byToken.status).toBe(403);
      expect(await openMultipart(`uploads/${session.id}/`)).toBe(1);
      expect(await uploadRow(session.id)).toMatchObject({ status: 'uploading' });
    });

    it('a form post over (or under) the policy size: S3 refuses it and nothing is stored; complete is 400', async () => {
      const session = await json(post('/v1/uploads', { filename: 'small.bin', size: 1000, mode: 'direct' }));
      const over = await postForm(session, randomBuffer(1001), 'small.bin');
      expect(over.status).toBe(400);
      expect(await over.text()).toContain('EntityTooLarge');
      const under = await postForm(session, randomBuffer(999), 'small.bin');
      expect(under.status).toBe(400);
      expect(await keysUnder(store, `chunks/${session.id}/`)).toEqual([]);
      const done = await post(`/v1/uploads/${session.id}/complete`, {});
      expect(done.status).toBe(400);
      expect((await json(done)).error.details[0]).toMatchObject({ field: 'file', message: 'not uploaded' });
      expect(await chunkRows(session.id)).toEqual([]);
    });

    it('DELETE aborts the multipart upload (or removes the form object) and the row', async () => {
      const file = path.join(tmp.dir, 'abort.bin');
      await makeRandomFile(file, 6 * MiB);
      const multipart = await json(
        post('/v1/uploads', {
          filename: 'abort.bin',
          size: 6 * MiB,
          mode: 'direct',
          transfer: 'multipart',
          part_size: 5 * MiB,
        }),
      );
      await sendParts(multipart, file, [1]);
      const form = await json(post('/v1/uploads', { filename: 'f.bin', size: 10, mode: 'direct' }));
      expect((await postForm(form, randomBuffer(10), 'f.bin')).status).toBe(204);
      expect(await keysUnder(store, `chunks/${form.id}/`)).toHaveLength(1);
      for (const s of [multipart, form])
        expect((await stack.api(`/v1/uploads/${s.id}`, { method: 'DELETE' })).status).toBe(204);
      expect(await openMultipart(`uploads/${multipart.id}/`)).toBe(0);
      expect(await keysUnder(store, `chunks/${form.id}/`)).toEqual([]);
      expect(await uploadRow(multipart.id)).toBeUndefined();
      expect(await uploadRow(form.id)).toBeUndefined();
      expect((await stack.api(`/v1/uploads/${multipart.id}`)).status).toBe(404);
    });

    it('an expired direct session: its multipart upload is aborted and its row removed by maintenance', async () => {
      const file = path.join(tmp.dir, 'expire.bin');
      await makeRandomFile(file, 6 * MiB);
      const expiresAt = Math.floor(Date.now() / 1000) + 2;
      const session = await json(
        post('/v1/uploads', {
          filename: 'expire.bin',
          size: 6 * MiB,
          mode: 'direct',
          transfer: 'multipart',
          part_size: 5 * MiB,
          expires_at: expiresAt,
        }),
      );
      // URLs never outlive their session.
      const signed = await sign(session, [1]);
      expect(signed.expires_at).toBeLessThanOrEqual(expiresAt);
      expect((await putPart(signed.parts[0], session, file)).status).toBe(200);
      await waitFor('session expiry', async () => Date.now() > expiresAt * 1000 + 100 || undefined);
      expect((await stack.api(`/v1/uploads/${session.id}`)).status).toBe(404);
      expect(await openMultipart(`uploads/${session.id}/`)).toBe(1);
      await runMaintenance(stack);
      expect(await openMultipart(`uploads/${session.id}/`)).toBe(0);
      expect(await uploadRow(session.id)).toBeUndefined();
    });

    it('a server with KILN_DIRECT_UPLOADS=false offers only proxied; mode direct is 400 naming mode', async () => {
      const port = await freePort();
      stack.spawnApp('api-gateway', 'gateway-proxied-only', {
        KILN_PORT: String(port),
        KILN_HOST: '127.0.0.1',
        KILN_DIRECT_UPLOADS: 'false',
      });
      const base = `http://127.0.0.1:${port}`;
      await stack.waitReady(base);
      expect(await json(stack.api('/v1/uploads/modes', { base }))).toEqual({
        modes: ['proxied'],
        default: 'proxied',
        recommended: 'proxied',
      });
      const res = await stack.api('/v1/uploads', {
        base,
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ filename: 'x.bin', size: 10, mode: 'direct' }),
      });
      expect(res.status).toBe(400);
      expect((await json(res)).error.details[0].field).toBe('mode');
      const app = stack.apps.find((a) => a.name === 'gateway-proxied-only')!;
      await stack.stopApp(app);
    });

    it('an expired part URL: S3 answers 403 and holds nothing; signing again gives a URL that works', async () => {
      const { session, signed } = expiring;
      await waitFor(
        'URL expiry',
        async () => Date.now() > signed.expires_at * 1000 + 1000 || undefined,
        (TTL + 30) * 1000,
        250,
      );
      const stale = await fetch(signed.url, { method: 'PUT', body: randomBuffer(1000) });
      expect(stale.status).toBe(403);
      expect((await json(stack.api(`/v1/uploads/${session.id}`))).parts).toEqual([]);
      const fresh = (await sign(session, [1])).parts[0];
      expect(fresh.url).not.toBe(signed.url);
      expect((await fetch(fresh.url, { method: 'PUT', body: randomBuffer(1000) })).status).toBe(200);
      expect((await post(`/v1/uploads/${session.id}/complete`, {})).status).toBe(200);
      expect((await assembledUpload(stack, session.id)).status).toBe('complete');
    });
  });
});

function randomBuffer(size: number): Buffer {
  return randomBytes(size);
}
