// Direct uploads end to end: the client sends the bytes straight to S3 (radosgw) with URLs the
// gateway presigns (part PUTs that sign their Content-Length, or a POST form), the gateway only
// keeps the books; the assembler, converter, PostgreSQL and Redis are the real processes.
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
import { Stack, json, waitFor } from '../test/stack';

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

  it('a 40 MiB file in 3 parts PUT to S3 in parallel: completed in place, same sha256, nothing left over', async () => {
    const size = 40 * MiB + 123;
    const file = path.join(tmp.dir, 'big.bin');
    const sha = await makeRandomFile(file, size);
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
    expect(await openMultipart(`uploads/${session.id}/`)).toBe(0);
    // Completing again answers the current state.
    const again = await post(`/v1/uploads/${session.id}/complete`, {});
    expect(again.status).toBe(200);
    expect(await json(again)).toMatchObject({ status: 'complete', assembled: true });
  });
});
