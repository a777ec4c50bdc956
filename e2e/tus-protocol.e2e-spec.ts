// The tus 1.0.0 endpoint in raw HTTP, end to end: options, creation, HEAD and PATCH, checksums,
// creation-with-upload and deferred length, against two gateway processes, an assembler and a
// converter; real PostgreSQL, Redis, S3 (radosgw) and ffmpeg.
import { createHash } from 'node:crypto';
import { sha256OfStream } from '../test/files';
import {
  MAX_FILE,
  MiB,
  OFFSET_STREAM,
  SMALL,
  TUS,
  digest,
  idOf,
  metadata,
  describeTusProtocol,
} from '../test/e2e-helpers/tus';
import { freePort, json } from '../test/stack';

jest.setTimeout(240_000);

describeTusProtocol((t, small) => {
  const { stack, create, createUpload, patch, head, offsetOf, assembled, keysUnder } = t;

  it('OPTIONS answers without credentials what the server supports, and CORS preflights', async () => {
    const res = await fetch(`${stack.url}/v1/tus/`, { method: 'OPTIONS' });
    expect(res.status).toBe(204);
    expect(Object.fromEntries([...res.headers].filter(([k]) => k.startsWith('tus-')))).toEqual({
      'tus-resumable': '1.0.0',
      'tus-version': '1.0.0',
      'tus-extension':
        'creation,creation-with-upload,creation-defer-length,expiration,checksum,termination,concatenation',
      'tus-max-size': String(MAX_FILE),
      'tus-checksum-algorithm': 'sha1,sha256',
    });
    const pre = await fetch(`${stack.gatewayUrls[1]}/v1/tus/0b8b4b33-0000-4000-8000-000000000000`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://app.example',
        'Access-Control-Request-Method': 'PATCH',
        'Access-Control-Request-Headers': 'upload-offset,tus-resumable,x-job-token,content-type',
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(pre.headers.get('access-control-allow-methods')).toContain('PATCH');
    const allowed = pre.headers.get('access-control-allow-headers')!.toLowerCase();
    for (const h of [
      'upload-offset',
      'upload-length',
      'upload-metadata',
      'upload-checksum',
      'tus-resumable',
      'x-job-token',
      'x-api-key',
      'authorization',
      'content-type',
    ])
      expect(allowed).toContain(h);
    // An actual cross-origin request may read the tus headers.
    const created = await create({ 'Upload-Length': '10', Origin: 'https://app.example' });
    expect(created.status).toBe(201);
    expect(created.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const exposed = created.headers.get('access-control-expose-headers')!.toLowerCase();
    for (const h of ['location', 'upload-offset', 'upload-length', 'upload-expires', 'tus-resumable'])
      expect(exposed).toContain(h);
  });

  it('builds Location from KILN_PUBLIC_URL when set, and documents the endpoint in OpenAPI', async () => {
    const port = await freePort();
    const behindProxy = `http://127.0.0.1:${port}`;
    stack.spawnApp('api-gateway', 'gateway-public-url', {
      KILN_PORT: String(port),
      KILN_HOST: '127.0.0.1',
      KILN_PUBLIC_URL: 'https://uploads.example/kiln/',
    });
    await stack.waitReady(behindProxy);
    const res = await create({ 'Upload-Length': '10' }, { base: behindProxy });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toMatch(/^https:\/\/uploads\.example\/kiln\/v1\/tus\/[0-9a-f-]{36}$/);
    const doc = await json(fetch(`${stack.url}/docs/openapi.json`));
    expect(Object.keys(doc.paths['/v1/tus/'])).toEqual(expect.arrayContaining(['options', 'post']));
    expect(Object.keys(doc.paths['/v1/tus/{id}'])).toEqual(expect.arrayContaining(['head', 'patch', 'delete']));
  });

  it('refuses another protocol version (412 + Tus-Version), missing credentials (401), a wrong content type (415), more than the limit (413)', async () => {
    const old = await stack.api('/v1/tus/', {
      method: 'POST',
      headers: { 'Tus-Resumable': '0.2.2', 'Upload-Length': '10' },
    });
    expect(old.status).toBe(412);
    expect(old.headers.get('tus-version')).toBe('1.0.0');
    expect(old.headers.get('tus-resumable')).toBe('1.0.0');
    expect((await json(old)).error.code).toBe('invalid_input');

    const anonymous = await create({ 'Upload-Length': '10' }, { key: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('tus-resumable')).toBe('1.0.0');
    expect((await json(anonymous)).error.code).toBe('unauthorized');

    const location = await createUpload(SMALL);
    const wrongType = await patch(location, 0, small.bytes.subarray(0, 1000), {
      'Content-Type': 'application/octet-stream',
    });
    expect(wrongType.status).toBe(415);
    expect(wrongType.headers.get('tus-resumable')).toBe('1.0.0');
    const oldPatch = await patch(location, 0, small.bytes.subarray(0, 1000), { 'Tus-Resumable': '0.2.2' });
    expect(oldPatch.status).toBe(412);
    expect(await offsetOf(location)).toBe(0);

    const huge = await create({ 'Upload-Length': String(MAX_FILE + 1) });
    expect(huge.status).toBe(413);
    expect((await json(huge)).error.code).toBe('payload_too_large');
    const noLength = await create({});
    expect(noLength.status).toBe(400);
    const unknownId = await head(`${stack.url}/v1/tus/0b8b4b33-0000-4000-8000-000000000000`);
    expect(unknownId.status).toBe(404);
  });

  it('creates (201, absolute Location, Upload-Expires), HEAD resumes, PATCH moves the offset; 409 on a wrong offset; completes like a session', async () => {
    const before = Date.now();
    const res = await create(
      {
        'Upload-Length': String(SMALL),
        'Upload-Metadata': metadata({ filename: 'small.bin', filetype: 'application/x-test', note: 'kept as sent' }),
      },
      { base: stack.gatewayUrls[1] },
    );
    expect(res.status).toBe(201);
    expect(res.headers.get('tus-resumable')).toBe('1.0.0');
    const location = res.headers.get('location')!;
    expect(location).toMatch(new RegExp(`^${stack.gatewayUrls[1]}/v1/tus/[0-9a-f-]{36}$`));
    const expires = Date.parse(res.headers.get('upload-expires')!);
    expect(expires).toBeGreaterThan(before + 6 * 24 * 3600 * 1000);

    // Another gateway answers HEAD: the offset lives in PostgreSQL.
    const h0 = await head(location, stack.gatewayUrls[0]);
    expect(h0.status).toBe(200);
    expect(h0.headers.get('upload-offset')).toBe('0');
    expect(h0.headers.get('upload-length')).toBe(String(SMALL));
    expect(h0.headers.get('cache-control')).toBe('no-store');
    expect(h0.headers.get('tus-resumable')).toBe('1.0.0');
    expect(h0.headers.get('upload-expires')).toBe(res.headers.get('upload-expires'));
    expect(h0.headers.get('upload-metadata')).toBe(
      metadata({ filename: 'small.bin', filetype: 'application/x-test', note: 'kept as sent' }),
    );

    const p1 = await patch(location, 0, small.bytes.subarray(0, MiB));
    expect(p1.status).toBe(204);
    expect(p1.headers.get('upload-offset')).toBe(String(MiB));
    expect(p1.headers.get('tus-resumable')).toBe('1.0.0');
    expect(p1.headers.get('upload-expires')).toBe(res.headers.get('upload-expires'));
    const stale = await patch(location, 0, small.bytes.subarray(0, MiB), {}, undefined);
    expect(stale.status).toBe(409);
    expect(await offsetOf(location, stack.gatewayUrls[0])).toBe(MiB);
    // The rest through the other gateway, as a client that cannot send PATCH would (X-HTTP-Method-Override).
    const rest = await stack.api(new URL(location).pathname, {
      base: stack.gatewayUrls[0],
      method: 'POST',
      headers: {
        ...TUS,
        'X-HTTP-Method-Override': 'PATCH',
        'Content-Type': OFFSET_STREAM,
        'Upload-Offset': String(MiB),
      },
      body: small.bytes.subarray(MiB),
    });
    expect(rest.status).toBe(204);
    expect(rest.headers.get('upload-offset')).toBe(String(SMALL));

    const id = idOf(location);
    const done = await assembled(id);
    expect(done).toMatchObject({
      status: 'complete',
      filename: 'small.bin',
      content_type: 'application/x-test',
      size: SMALL,
    });
    expect(await sha256OfStream(await t.store.get(await t.storedKey(id)))).toBe(small.sha());
    const after = await head(location);
    expect(after.headers.get('upload-offset')).toBe(String(SMALL));
    expect(after.headers.get('upload-expires')).toBeNull();
    // A finished upload takes no more bytes, and termination is refused as for sessions.
    expect((await patch(location, SMALL, Buffer.from('x'))).status).toBe(409);
    expect((await stack.api(new URL(location).pathname, { method: 'DELETE', headers: TUS })).status).toBe(409);
  });

  it('checks Upload-Checksum (sha1, sha256): a mismatch is 460, the bytes discarded and the offset unchanged; an unknown algorithm 400', async () => {
    const location = await createUpload(SMALL, { filename: 'sum.bin' });
    const part = small.bytes.subarray(0, MiB);
    const bad = await patch(location, 0, part, {
      'Upload-Checksum': `sha256 ${digest('sha256', Buffer.from('other bytes'))}`,
    });
    expect(bad.status).toBe(460);
    expect(bad.statusText).toBe('Checksum Mismatch');
    expect(bad.headers.get('tus-resumable')).toBe('1.0.0');
    expect(await offsetOf(location)).toBe(0);
    expect(await keysUnder(`chunks/${idOf(location)}/`)).toEqual([]);
    expect(
      (
        await patch(location, 0, part, {
          'Upload-Checksum': `md5 ${createHash('md5').update(part).digest('base64')}`,
        })
      ).status,
    ).toBe(400);
    expect(await offsetOf(location)).toBe(0);

    const ok1 = await patch(location, 0, part, { 'Upload-Checksum': `sha1 ${digest('sha1', part)}` });
    expect(ok1.status).toBe(204);
    expect(ok1.headers.get('upload-offset')).toBe(String(MiB));
    const second = small.bytes.subarray(MiB);
    const ok2 = await patch(
      location,
      MiB,
      second,
      { 'Upload-Checksum': `sha256 ${digest('sha256', second)}` },
      undefined,
    );
    expect(ok2.status).toBe(204);
    expect(ok2.headers.get('upload-offset')).toBe(String(SMALL));
    await assembled(idOf(location));
    expect(await sha256OfStream(await t.store.get(await t.storedKey(idOf(location))))).toBe(small.sha());
  });

  it('creation-with-upload: the POST body is the first PATCH', async () => {
    const firstPart = small.bytes.subarray(0, 2 * MiB);
    const res = await create(
      {
        'Upload-Length': String(SMALL),
        'Upload-Metadata': metadata({ filename: 'cwu.bin' }),
        'Content-Type': OFFSET_STREAM,
        'Upload-Checksum': `sha256 ${digest('sha256', firstPart)}`,
      },
      { body: firstPart },
    );
    expect(res.status).toBe(201);
    expect(res.headers.get('upload-offset')).toBe(String(2 * MiB));
    const location = res.headers.get('location')!;
    const rest = await patch(location, 2 * MiB, small.bytes.subarray(2 * MiB));
    expect(rest.status).toBe(204);
    await assembled(idOf(location));
    expect(await sha256OfStream(await t.store.get(await t.storedKey(idOf(location))))).toBe(small.sha());

    // The whole file in the creation request.
    const whole = await create(
      {
        'Upload-Length': String(SMALL),
        'Upload-Metadata': metadata({ filename: 'whole.bin' }),
        'Content-Type': OFFSET_STREAM,
      },
      { body: small.bytes, base: stack.gatewayUrls[1] },
    );
    expect(whole.status).toBe(201);
    expect(whole.headers.get('upload-offset')).toBe(String(SMALL));
    await assembled(idOf(whole.headers.get('location')!));
  });

  it('Upload-Defer-Length: the length comes with a later PATCH', async () => {
    const res = await create({
      'Upload-Defer-Length': '1',
      'Upload-Metadata': metadata({ filename: 'deferred.bin' }),
    });
    expect(res.status).toBe(201);
    const location = res.headers.get('location')!;
    const h = await head(location);
    expect(h.headers.get('upload-defer-length')).toBe('1');
    expect(h.headers.get('upload-length')).toBeNull();
    const p1 = await patch(location, 0, small.bytes.subarray(0, 2 * MiB));
    expect(p1.status).toBe(204);
    expect(p1.headers.get('upload-offset')).toBe(String(2 * MiB));
    expect((await json(stack.api(`/v1/uploads/${idOf(location)}`))).status).toBe('uploading');
    const p2 = await patch(
      location,
      2 * MiB,
      small.bytes.subarray(2 * MiB),
      { 'Upload-Length': String(SMALL) },
      undefined,
    );
    expect(p2.status).toBe(204);
    expect(p2.headers.get('upload-offset')).toBe(String(SMALL));
    const h2 = await head(location);
    expect(h2.headers.get('upload-length')).toBe(String(SMALL));
    expect(h2.headers.get('upload-defer-length')).toBeNull();
    await assembled(idOf(location));
    expect(await sha256OfStream(await t.store.get(await t.storedKey(idOf(location))))).toBe(small.sha());
  });
});
