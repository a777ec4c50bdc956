// Direct uploads' presigned requests against a real S3 server (Ceph radosgw from scripts/s3-local.sh):
// a part URL that signs its Content-Length refuses any other length, a POST form refuses a file
// outside its content-length-range, expired URLs are refused and a fresh signature works, and the
// bucket CORS rule answers a browser's preflight with the ETag exposed. Each run uses its own bucket.
import { createHash, randomBytes } from 'node:crypto';

import { MinioObjectStore } from '@kiln/storage';
import { minioObjectStoreOptionsFromEnv } from '@kiln/storage/testing';
import { Client } from 'minio';

const MiB = 1024 * 1024;
const base = minioObjectStoreOptionsFromEnv(process.env, 'unused');
const endpoint = new URL(base.endpoint);
const admin = new Client({
  endPoint: endpoint.hostname,
  port: Number(endpoint.port || 80),
  useSSL: endpoint.protocol === 'https:',
  accessKey: base.accessKey,
  secretKey: base.secretKey,
  region: base.region ?? 'us-east-1',
  pathStyle: true,
});

async function dropBucket(bucket: string): Promise<void> {
  if (!(await admin.bucketExists(bucket))) return;
  const page = await admin.listIncompleteUploadsQuery(bucket, '', '', '', '');
  for (const upload of page.uploads) await admin.abortMultipartUpload(bucket, upload.key, upload.uploadId);
  const names: string[] = [];
  for await (const item of admin.listObjectsV2(bucket, '', true) as unknown as AsyncIterable<{ name?: string }>) {
    if (item.name !== undefined) names.push(item.name);
  }
  if (names.length) await admin.removeObjects(bucket, names);
  await admin.removeBucket(bucket);
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** Resolves once the clock is past `epochSeconds` (the moment an expiry in whole seconds has passed). */
async function clockPast(epochSeconds: number): Promise<void> {
  while (Date.now() <= epochSeconds * 1000 + 1000) await new Promise((r) => setTimeout(r, 100));
}

describe('MinioObjectStore direct-upload signing against radosgw', () => {
  const bucket = `kiln-direct-${randomBytes(5).toString('hex')}`;
  // Clients reach S3 under another host name than the services: URLs are signed for that one.
  const publicEndpoint = `${endpoint.protocol}//localhost:${endpoint.port}`;
  const store = new MinioObjectStore({ ...base, bucket, directEndpoint: publicEndpoint });

  beforeAll(() => store.ensureBucket());
  afterAll(() => dropBucket(bucket));

  it('a part URL signs its Content-Length: another length is refused (403, nothing stored), the exact one stored', async () => {
    const key = 'uploads/part-test/file.bin';
    const uploadId = await store.createMultipart(key);
    const size = 5 * MiB;
    const url = await store.presignPart(key, uploadId, 1, size, 600);
    expect(new URL(url).host).toBe(new URL(publicEndpoint).host);
    expect(new URL(url).searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;host');
    for (const wrong of [size - 1, size + 1, 1]) {
      const res = await fetch(url, { method: 'PUT', body: Buffer.alloc(wrong, 7) });
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('SignatureDoesNotMatch');
    }
    expect(await store.listParts(key, uploadId)).toEqual([]);
    const bytes = randomBytes(size);
    const ok = await fetch(url, { method: 'PUT', body: bytes });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('etag')).toBe(`"${md5(bytes)}"`);
    expect(await store.listParts(key, uploadId)).toEqual([{ partNumber: 1, etag: md5(bytes), size }]);
    await store.abortMultipart(key, uploadId);
  });

  it('an expired part URL is refused (403); a fresh signature of the same part works', async () => {
    const key = 'uploads/expiry-test/file.bin';
    const uploadId = await store.createMultipart(key);
    const signedAt = Math.floor(Date.now() / 1000);
    const stale = await store.presignPart(key, uploadId, 1, 1000, 1);
    await clockPast(signedAt + 1);
    const refused = await fetch(stale, { method: 'PUT', body: Buffer.alloc(1000, 1) });
    expect(refused.status).toBe(403);
    expect(await store.listParts(key, uploadId)).toEqual([]);
    const fresh = await store.presignPart(key, uploadId, 1, 1000, 600);
    expect((await fetch(fresh, { method: 'PUT', body: Buffer.alloc(1000, 1) })).status).toBe(200);
    expect((await store.listParts(key, uploadId)).map((p) => p.size)).toEqual([1000]);
    await store.abortMultipart(key, uploadId);
  });

  it('a POST form stores exactly its key and size: a bigger or smaller file is refused and nothing is stored', async () => {
    const key = 'chunks/form-test/0-99.form';
    const form = await store.presignPost(key, { size: 100, contentType: 'audio/wav', expirySeconds: 600 });
    expect(new URL(form.url).host).toBe(new URL(publicEndpoint).host);
    expect(form.fields).toMatchObject({ key, 'Content-Type': 'audio/wav' });
    expect(form.expiresAt).toBeGreaterThan(Date.now() / 1000 + 590);
    const send = (size: number, fields = form.fields) => {
      const body = new FormData();
      for (const [k, v] of Object.entries(fields)) body.append(k, v);
      body.append('file', new Blob([Buffer.alloc(size, 3)], { type: 'audio/wav' }), 'a.wav');
      return fetch(form.url, { method: 'POST', body });
    };
    const over = await send(101);
    expect(over.status).toBe(400);
    expect(await over.text()).toContain('EntityTooLarge');
    const under = await send(99);
    expect(under.status).toBe(400);
    expect(await under.text()).toContain('EntityTooSmall');
    // Another key than the policy's: refused.
    const elsewhere = await send(100, { ...form.fields, key: 'inputs/elsewhere.bin' });
    expect(elsewhere.status).toBe(403);
    expect(await store.stat(key)).toBeNull();
    expect(await store.stat('inputs/elsewhere.bin')).toBeNull();
    expect((await send(100)).status).toBe(204);
    expect(await store.stat(key)).toMatchObject({ key, size: 100 });
  });

  it('the bucket CORS rule: a preflight for PUT from any origin is allowed, and ETag is exposed on the answer', async () => {
    await store.putBucketCors(['*']);
    const key = 'uploads/cors-test/file.bin';
    const uploadId = await store.createMultipart(key);
    const url = await store.presignPart(key, uploadId, 1, 10, 600);
    const preflight = await fetch(url, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://app.example',
        'Access-Control-Request-Method': 'PUT',
        'Access-Control-Request-Headers': 'content-type',
      },
    });
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get('access-control-allow-origin')).toMatch(/^(\*|https:\/\/app\.example)$/);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('PUT');
    expect(preflight.headers.get('access-control-expose-headers')).toBe('ETag');
    const put = await fetch(url, {
      method: 'PUT',
      body: Buffer.alloc(10, 1),
      headers: { Origin: 'https://app.example' },
    });
    expect(put.status).toBe(200);
    expect(put.headers.get('access-control-expose-headers')).toBe('ETag');
    expect(put.headers.get('etag')).toBe(`"${md5(Buffer.alloc(10, 1))}"`);
    await store.abortMultipart(key, uploadId);

    // Only the listed origins once they are listed.
    await store.putBucketCors(['https://app.example']);
    const foreign = await fetch(url, {
      method: 'OPTIONS',
      headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'PUT' },
    });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });
});
