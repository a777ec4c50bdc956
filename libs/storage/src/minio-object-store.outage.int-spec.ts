// The S3 adapter while the S3 server is unavailable: radosgw behind a fault proxy that answers 503
// with Retry-After, or drops the connection. Every call fails with an error the callers read as an
// outage (an S3RequestError with status 503, or a socket error: retryable), never a plain Error,
// and works again once the server is back. The gateway answers such errors 503 `unavailable`.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

import { MinioObjectStore, S3RequestError } from '@kiln/storage';
import { minioObjectStoreOptionsFromEnv, readAll } from '@kiln/storage/testing';

import { S3FaultProxy } from '../../../test/s3-fault-proxy';
import { minioClient } from './s3-bucket';
import { isRetryable } from './s3-errors';

const MiB = 1024 * 1024;
const direct = minioObjectStoreOptionsFromEnv(process.env, `kiln-test-${randomBytes(6).toString('hex')}`);
const proxy = new S3FaultProxy(direct.endpoint);
let store: MinioObjectStore;
let admin: MinioObjectStore;

beforeAll(async () => {
  await proxy.start();
  admin = new MinioObjectStore(direct);
  await admin.ensureBucket();
  store = new MinioObjectStore({ ...direct, endpoint: proxy.url });
});

afterAll(async () => {
  await admin.abortStaleUploads(new Date(Date.now() + 60_000));
  await admin.removePrefix('t/');
  await minioClient(direct.endpoint, direct, 'us-east-1').removeBucket(direct.bucket);
  await proxy.stop();
});

afterEach(() => proxy.pass());

/** Whether `call` failed as an outage: with status 503 when S3 answered one, retryable either way. */
async function outage(call: () => Promise<unknown>, status?: number): Promise<unknown> {
  const err = await call().then(
    () => new Error('the call succeeded'),
    (e: unknown) => e,
  );
  if (status !== undefined) {
    expect(err).toBeInstanceOf(S3RequestError);
    expect((err as S3RequestError).statusCode).toBe(status);
  }
  expect(isRetryable(err)).toBe(true);
  return err;
}

const body = (bytes: Buffer) => Readable.from([bytes]);

describe('MinioObjectStore with S3 answering 503', () => {
  it('control calls made with minio-js (stat, get, list, remove, multipart start/list/abort) fail as S3RequestError 503', async () => {
    await admin.put('t/kept', body(Buffer.from('kept')), { size: 4 });
    const mp = await admin.createMultipart('t/mp');
    proxy.unavailable();
    await outage(() => store.stat('t/kept'), 503);
    await outage(() => store.get('t/kept'), 503);
    await outage(async () => {
      for await (const o of store.list('t/')) void o;
    }, 503);
    await outage(() => store.remove('t/kept'), 503);
    await outage(() => store.createMultipart('t/other'), 503);
    await outage(() => store.listParts('t/mp', mp), 503);
    await outage(() => store.abortMultipart('t/mp', mp), 503);
    // Nothing changed on the server meanwhile.
    expect(await admin.stat('t/kept')).toMatchObject({ size: 4 });
    expect(await admin.listParts('t/mp', mp)).toEqual([]);
    proxy.pass();
    expect(await readAll(await store.get('t/kept'))).toEqual(Buffer.from('kept'));
    await store.abortMultipart('t/mp', mp);
  });

  it('object bytes sent raw (put, part upload, completion) fail as S3RequestError 503, and nothing is written', async () => {
    const bytes = randomBytes(5 * MiB);
    const mp = await admin.createMultipart('t/parts');
    proxy.unavailable();
    await outage(() => store.put('t/whole', body(bytes), { size: bytes.length }), 503);
    await outage(() => store.putPart('t/parts', mp, 1, body(bytes), bytes.length), 503);
    proxy.pass();
    const part = await store.putPart('t/parts', mp, 1, body(bytes), bytes.length);
    proxy.unavailable({ methods: ['POST'] });
    await outage(() => store.completeMultipart('t/parts', mp, [{ partNumber: 1, etag: part.etag }]), 503);
    expect(await admin.stat('t/whole')).toBeNull();
    expect(await admin.stat('t/parts')).toBeNull();
    proxy.pass();
    await store.completeMultipart('t/parts', mp, [{ partNumber: 1, etag: part.etag }]);
    expect((await admin.stat('t/parts'))?.size).toBe(bytes.length);
  });

  it('compose (UploadPartCopy) fails as S3RequestError 503 and leaves no multipart upload behind', async () => {
    const a = randomBytes(5 * MiB);
    await admin.put('t/a', body(a), { size: a.length });
    await admin.put('t/b', body(Buffer.from('tail')), { size: 4 });
    proxy.unavailable({ match: (r) => r.method === 'PUT' && r.query.has('partNumber') });
    await outage(() => store.compose('t/ab', ['t/a', 't/b']), 503);
    expect(proxy.faulted().length).toBeGreaterThan(0);
    expect(await admin.stat('t/ab')).toBeNull();
    expect(await admin.abortStaleUploads(new Date(Date.now() + 60_000), (u) => !u.key.startsWith('t/ab'))).toBe(0);
    proxy.pass();
    expect((await store.compose('t/ab', ['t/a', 't/b'])).size).toBe(a.length + 4);
  });
});

describe('MinioObjectStore with S3 connections dropped', () => {
  it('every kind of call fails with a retryable socket error, and works once connections pass again', async () => {
    proxy.fail({ action: 'drop' });
    await outage(() => store.stat('t/a'));
    await outage(() => store.put('t/dropped', body(Buffer.from('x')), { size: 1 }));
    await outage(() => store.createMultipart('t/dropped'));
    proxy.pass();
    expect((await store.stat('t/a'))?.size).toBe(5 * MiB);
  });
});
