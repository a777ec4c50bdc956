// The gateway's Companion-style Uppy endpoints (/v1/uppy/…) over HTTP, called exactly as
// @uppy/aws-s3 6.3 calls them (its CompanionS3 client: paths, query, JSON bodies, a FormData POST of the
// answer's fields with the file last), against real S3 (radosgw), PostgreSQL and the assembler:
// a form upload completed by its key, a multipart upload signed in a batch, the refusals (no size,
// wrong key, no credentials, a part of the wrong length) and the CORS preflight.
import { createHash, randomBytes } from 'node:crypto';
import { Client as Pg } from 'pg';
import { keysUnder, objectStoreOf } from '../test/e2e-helpers/object-store';
import { assembledUpload } from '../test/e2e-helpers/uploads';
import { sha256OfStream } from '../test/files';
import { Stack, json } from '../test/stack';

jest.setTimeout(180_000);

const MiB = 1024 * 1024;
type Refusal = { error: { details: unknown[] } };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('Uppy endpoints (Companion S3 API) on direct upload sessions', () => {
  const stack = new Stack();
  let pg: Pg;
  const uppy = (path: string, init: RequestInit = {}, key: string | null = stack.apiKey) =>
    fetch(`${stack.url}/v1/uppy${path}`, {
      ...init,
      headers: { ...(key ? { 'X-Api-Key': key } : {}), ...(init.headers as Record<string, string>) },
    });
  const uploadRows = async () => (await pg.query('SELECT count(*)::int AS n FROM uploads')).rows[0].n as number;

  beforeAll(async () => {
    await stack.start({ gateways: 1, assemblers: 1, converters: 0 });
    pg = new Pg({ connectionString: stack.db.url });
    await pg.connect();
  });

  afterAll(async () => {
    await pg?.end();
    await stack.stop();
  });

  it('form upload: /s3/params answers a policy POST, S3 takes the file, /s3/complete?key= completes it', async () => {
    const file = randomBytes(300_000);
    const q = new URLSearchParams({
      filename: 'small.bin',
      type: 'application/octet-stream',
      'metadata[name]': 'small.bin',
      'metadata[size]': String(file.length),
    });
    const params = await json(uppy(`/s3/params?${q}`));
    expect(params).toMatchObject({ method: 'POST', headers: {}, upload_id: expect.any(String) });
    expect(params.fields.key).toContain(params.upload_id);
    // What Uppy's buildPostPolicyForm sends: every field, then the file.
    const form = new FormData();
    for (const [k, v] of Object.entries(params.fields as Record<string, string>)) form.set(k, v);
    form.set('file', new Blob([file]));
    const posted = await fetch(params.url, { method: 'POST', body: form });
    expect(posted.status).toBeLessThan(300);

    const done = await json(uppy(`/s3/complete?key=${encodeURIComponent(params.fields.key)}`, { method: 'POST' }));
    expect(done).toMatchObject({
      upload_id: params.upload_id,
      location: `${stack.url}/v1/uploads/${params.upload_id}`,
    });
    await assembledUpload(stack, params.upload_id);
    const store = objectStoreOf(stack);
    const keys = await keysUnder(store, `uploads/${params.upload_id}/`);
    expect(keys).toHaveLength(1);
    await expect(sha256OfStream(await store.get(keys[0]))).resolves.toBe(sha(file));
  });

  it('multipart: create, batch-sign, list, complete (Kiln checks every part); a part of another length is refused by S3', async () => {
    const size = 6 * MiB + 123;
    const file = randomBytes(size);
    const created = await json(
      uppy('/s3/multipart', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ filename: 'big.bin', type: 'application/octet-stream', metadata: { size } }),
      }),
    );
    const { uploadId, key } = created;
    expect(key).toBe(uploadId);
    const session = await json(stack.api(`/v1/uploads/${uploadId}`));
    expect(session).toMatchObject({ mode: 'direct', transfer: 'multipart', part_size: 5 * MiB, part_count: 2 });

    const signed = await json(uppy(`/s3/multipart/${uploadId}/batch?key=${key}&partNumbers=1,2`));
    expect(Object.keys(signed.presignedUrls)).toEqual(['1', '2']);
    // Part 2 with a byte too many: S3 refuses it (the length is signed), nothing is stored.
    const wrong = await fetch(signed.presignedUrls['2'], {
      method: 'PUT',
      body: Buffer.concat([file.subarray(5 * MiB), Buffer.from('x')]),
    });
    expect(wrong.status).toBe(403);
    const one = await fetch(signed.presignedUrls['1'], { method: 'PUT', body: file.subarray(0, 5 * MiB) });
    expect(one.status).toBe(200);
    expect(await json(uppy(`/s3/multipart/${uploadId}?key=${key}`))).toEqual([
      { PartNumber: 1, Size: 5 * MiB, ETag: expect.any(String) },
    ]);
    // Completing with a part missing: Kiln's 400 naming it; the upload stays open.
    const early = await uppy(`/s3/multipart/${uploadId}/complete?key=${key}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ parts: [{ PartNumber: 1, ETag: 'x' }] }),
    });
    expect(early.status).toBe(400);
    expect(((await early.json()) as Refusal).error.details).toEqual([
      expect.objectContaining({ field: 'parts', part_number: 2 }),
    ]);

    // One part signed alone (Uppy 6's way), sent, then completed.
    const part2 = await json(uppy(`/s3/multipart/${uploadId}/2?key=${key}`));
    expect(part2).toMatchObject({ url: expect.any(String), expires: expect.any(Number) });
    expect((await fetch(part2.url, { method: 'PUT', body: file.subarray(5 * MiB) })).status).toBe(200);
    const done = await json(
      uppy(`/s3/multipart/${uploadId}/complete?key=${key}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ parts: [] }),
      }),
    );
    expect(done).toMatchObject({ key: uploadId, location: `${stack.url}/v1/uploads/${uploadId}` });
    await assembledUpload(stack, uploadId);
    const store = objectStoreOf(stack);
    const keys = await keysUnder(store, `uploads/${uploadId}/`);
    expect(keys).toHaveLength(1);
    await expect(sha256OfStream(await store.get(keys[0]))).resolves.toBe(sha(file));
  });

  it('refuses what Kiln cannot take, and changes nothing: no size, another key, no credentials', async () => {
    const before = await uploadRows();
    const noSize = await uppy('/s3/multipart', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ filename: 'a.bin', type: 'application/octet-stream', metadata: {} }),
    });
    expect(noSize.status).toBe(400);
    expect(((await noSize.json()) as Refusal).error.details).toEqual([
      expect.objectContaining({ field: 'metadata.size' }),
    ]);
    const noKey = await uppy(
      '/s3/multipart',
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ filename: 'a.bin', metadata: { size: 10 } }),
      },
      null,
    );
    expect(noKey.status).toBe(401);
    const badToken = await fetch(`${stack.url}/v1/uppy/t/${'0'.repeat(32)}/s3/params?filename=a&metadata[size]=1`);
    expect(badToken.status).toBe(401);
    expect(await uploadRows()).toBe(before);

    // A job token in the path opens uploads into its job; another upload's key is refused.
    const job = await json(
      stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ input: [{ type: 'upload', filename: 'x.bin' }], conversion: [{ target: 'mp3' }] }),
      }),
    );
    const created = await json(
      fetch(`${stack.url}/v1/uppy/t/${job.token}/s3/multipart`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ filename: 'x.bin', type: 'audio/wav', metadata: { size: 5 } }),
      }),
    );
    const row = await pg.query('SELECT job_id, input_id FROM uploads WHERE id = $1', [created.uploadId]);
    expect(row.rows[0]).toMatchObject({ job_id: job.id, input_id: job.input[0].id });
    const other = randomBytes(16).toString('hex');
    const wrongKey = await fetch(`${stack.url}/v1/uppy/t/${job.token}/s3/multipart/${created.uploadId}?key=${other}`);
    expect(wrongKey.status).toBe(400);
    // Abort (Uppy's cancel): Kiln's abort, answered as Companion does.
    const aborted = await fetch(
      `${stack.url}/v1/uppy/t/${job.token}/s3/multipart/${created.uploadId}?key=${created.key}`,
      {
        method: 'DELETE',
      },
    );
    expect(aborted.status).toBe(200);
    await expect(aborted.json()).resolves.toEqual({});
  });

  it('answers a CORS preflight from any origin, without credentials', async () => {
    const res = await fetch(`${stack.url}/v1/uppy/t/${'a'.repeat(32)}/s3/multipart`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
  });
});
