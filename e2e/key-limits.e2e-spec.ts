// Abuse limits per API key, end to end: open uploads, uploads that never expire, event streams,
// conversion units per job, jobs in flight and the storage quota. Two gateway processes share each
// limit (PostgreSQL and Redis); every refusal is checked for its status, code, message and
// Retry-After, for leaving no row or object behind, and for not touching another key.
import { randomBytes } from 'node:crypto';
import { QUOTA, hashKey, useKeyLimitsStack } from '../test/e2e-helpers/key-limits';
import { TUS, b64 } from '../test/e2e-helpers/tus';
import { json, waitFor } from '../test/stack';

jest.setTimeout(180_000);

describe('abuse limits per API key', () => {
  const k = useKeyLimitsStack();
  const { stack, keys, gw, post, count, uploadsOf, jobsOf, objects, tusCreate, expectRefusal } = k;

  it('refuses upload sessions that never expire unless the server allows them', async () => {
    const refused = await post('/v1/uploads', keys.never, { filename: 'a.bin', size: 100, expires_at: 0 });
    const body = await expectRefusal(
      refused,
      400,
      'invalid_input',
      'Invalid body: expires_at: 0 (never expires) is not allowed on this server; give a time in the future (epoch seconds) or leave it out for the default.',
    );
    expect(body.error.details).toEqual([
      { field: 'expires_at', message: 'uploads that never expire are not allowed (KILN_ALLOW_NEVER_EXPIRING_UPLOADS)' },
    ]);
    expect(await uploadsOf(keys.never)).toBe(0);
    // With a time, or with the default, the same session opens.
    const dated = await post('/v1/uploads', keys.never, {
      filename: 'a.bin',
      size: 100,
      expires_at: Math.floor(Date.now() / 1000) + 3600,
    });
    expect(dated.status).toBe(201);
    // KILN_ALLOW_NEVER_EXPIRING_UPLOADS=true: accepted, and stored without an expiry.
    const allowed = await stack.api('/v1/uploads', {
      base: k.permissive,
      key: keys.never,
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ filename: 'a.bin', size: 100, expires_at: 0 }),
    });
    expect(allowed.status).toBe(201);
    const session = await json(allowed);
    expect(session.expires_at).toBe(0);
    expect(await count('SELECT count(*) AS n FROM uploads WHERE id = $1 AND expires_at IS NULL', session.id)).toBe(1);
  });

  it('counts open upload sessions and tus uploads per key across gateways; 429 with Retry-After past the limit', async () => {
    const key = keys.uploads;
    const opened: string[] = [];
    for (const n of [0, 1]) {
      const res = await post('/v1/uploads', key, { filename: 'a.bin', size: 100 }, n);
      expect(res.status).toBe(201);
      opened.push((await json(res)).id);
    }
    const tus = await tusCreate(key, 100, {}, 1);
    expect(tus.status).toBe(201);
    opened.push(tus.headers.get('location')!.split('/').pop()!);
    expect(await uploadsOf(key)).toBe(3);

    const message =
      'This API key already has 3 open uploads (limit 3); complete, abort or let one expire, then try again.';
    await expectRefusal(
      await post('/v1/uploads', key, { filename: 'a.bin', size: 100 }, 0),
      429,
      'rate_limited',
      message,
      '60',
    );
    await expectRefusal(
      await post('/v1/uploads', key, { filename: 'a.bin', size: 100 }, 1),
      429,
      'rate_limited',
      message,
      '60',
    );
    await expectRefusal(await tusCreate(key, 100, {}, 0), 429, 'rate_limited', message, '60');
    // A chunked upload into a job opens an upload too.
    const job = await json(post('/v1/jobs', key, { process: false, conversion: [{ target: 'jpg' }] }));
    const chunk = await stack.api(`/v1/jobs/${job.id}/upload`, {
      key,
      method: 'POST',
      headers: { 'X-Upload-Id': 'f1', 'Content-Range': 'bytes 0-9/100' },
      body: Buffer.alloc(10),
    });
    await expectRefusal(chunk, 429, 'rate_limited', message, '60');
    expect(await uploadsOf(key)).toBe(3);
    expect(await objects(`chunks/`)).toEqual([]);

    // Another key is not affected.
    expect((await post('/v1/uploads', stack.otherKey, { filename: 'a.bin', size: 100 }, 0)).status).toBe(201);

    // Aborting one frees its place.
    expect((await stack.api(`/v1/uploads/${opened[0]}`, { key, method: 'DELETE' })).status).toBe(204);
    expect((await post('/v1/uploads', key, { filename: 'a.bin', size: 100 }, 1)).status).toBe(201);
    expect(await uploadsOf(key)).toBe(3);
  });

  it('limits concurrent event streams per key (job tokens count against their key); a closed stream frees its slot', async () => {
    const key = keys.streams;
    const job = await json(post('/v1/jobs', key, { process: false, conversion: [{ target: 'jpg' }] }));
    const open = async (n: number, headers: Record<string, string> = { 'X-Api-Key': key }, id = job.id) => {
      const abort = new AbortController();
      const res = await fetch(`${gw(n)}/v1/jobs/${id}/events`, { headers, signal: abort.signal });
      if (res.status === 200) {
        const reader = res.body!.getReader();
        const first = new TextDecoder().decode((await reader.read()).value);
        expect(first).toMatch(/^event: status/);
      }
      return { res, close: () => abort.abort() };
    };
    const a = await open(0);
    const b = await open(1);
    expect([a.res.status, b.res.status]).toEqual([200, 200]);

    const message = 'This API key already has 2 event streams open (limit 2); close one, then try again.';
    await expectRefusal((await open(0)).res, 429, 'rate_limited', message, '10');
    await expectRefusal((await open(1, { 'X-Job-Token': job.token })).res, 429, 'rate_limited', message, '10');

    // Another key is not affected.
    const otherJob = await json(post('/v1/jobs', stack.otherKey, { process: false, conversion: [{ target: 'jpg' }] }));
    const other = await open(0, { 'X-Api-Key': stack.otherKey }, otherJob.id);
    expect(other.res.status).toBe(200);
    other.close();

    // Closing a stream gives its slot back (the gateway releases it when the connection closes).
    a.close();
    const c = await waitFor(
      'a freed stream slot',
      async () => {
        const attempt = await open(1);
        if (attempt.res.status === 200) return attempt;
        await attempt.res.arrayBuffer();
        return undefined;
      },
      20_000,
      100,
    );
    expect(c.res.status).toBe(200);
    b.close();
    c.close();
  });

  it('limits conversion units (inputs × conversions) per job at creation and when inputs or conversions are added', async () => {
    const key = keys.units;
    const conversions = [{ target: 'jpg' }, { target: 'png' }, { target: 'webp' }];
    const upload = { type: 'upload' };
    const before = await jobsOf(key);
    const created = await post('/v1/jobs', key, {
      process: false,
      input: [upload, upload, upload],
      conversion: conversions,
    });
    const body = await expectRefusal(
      created,
      400,
      'invalid_input',
      'Invalid body: conversion: the job would have 3 input(s) × 3 conversion(s) = 9 conversion units; the limit is 6 per job (KILN_MAX_UNITS_PER_JOB).',
    );
    expect(body.error.details).toEqual([
      { field: 'conversion', message: 'at most 6 conversion units (inputs × conversions) per job', limit: 6, units: 9 },
    ]);
    expect(await jobsOf(key)).toBe(before);

    const job = await json(post('/v1/jobs', key, { process: false, input: [upload, upload], conversion: conversions }));
    expect(job.input).toHaveLength(2);
    await expectRefusal(
      await post(`/v1/jobs/${job.id}/input`, key, upload),
      400,
      'invalid_input',
      'Invalid body: input: the job would have 3 input(s) × 3 conversion(s) = 9 conversion units; the limit is 6 per job (KILN_MAX_UNITS_PER_JOB).',
    );
    const small = await json(
      post('/v1/jobs', key, {
        process: false,
        input: [upload, upload, upload],
        conversion: [{ target: 'jpg' }, { target: 'png' }],
      }),
    );
    await expectRefusal(
      await post(`/v1/jobs/${small.id}/conversions`, key, { target: 'webp' }),
      400,
      'invalid_input',
      'Invalid body: conversion: the job would have 3 input(s) × 3 conversion(s) = 9 conversion units; the limit is 6 per job (KILN_MAX_UNITS_PER_JOB).',
    );
    expect(await count('SELECT count(*) AS n FROM inputs WHERE job_id = $1', job.id)).toBe(2);
    expect(await count('SELECT count(*) AS n FROM conversions WHERE job_id = $1', small.id)).toBe(2);

    // An upload that would add a third input to the 2 × 3 job: the two waiting inputs take files,
    // the third file is refused and stores nothing.
    const put = (n: number) =>
      stack.api(`/v1/jobs/${job.id}/upload`, {
        base: gw(n),
        key,
        method: 'POST',
        headers: { 'X-File-Name': `f${n}.bin` },
        body: Buffer.alloc(10, n),
      });
    expect((await put(0)).status).toBe(201);
    expect((await put(1)).status).toBe(201);
    await expectRefusal(
      await put(2),
      400,
      'invalid_input',
      'Invalid body: input: the job would have 3 input(s) × 3 conversion(s) = 9 conversion units; the limit is 6 per job (KILN_MAX_UNITS_PER_JOB).',
    );
    expect(await count('SELECT count(*) AS n FROM inputs WHERE job_id = $1', job.id)).toBe(2);
    expect((await objects(`inputs/${job.id}/`)).map((k) => k.split('/').pop()).sort()).toEqual(['f0.bin', 'f1.bin']);
  });

  it('limits jobs in flight per key (429 with Retry-After); an ended job frees its place', async () => {
    const key = keys.jobs;
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await post('/v1/jobs', key, { process: false, conversion: [{ target: 'jpg' }] }, i);
      expect(res.status).toBe(201);
      ids.push((await json(res)).id);
    }
    const message =
      'This API key already has 4 jobs in flight (limit 4); wait for one to end or cancel one, then try again.';
    await expectRefusal(
      await post('/v1/jobs', key, { process: false, conversion: [{ target: 'jpg' }] }, 1),
      429,
      'rate_limited',
      message,
      '30',
    );
    // tus creation with `target` creates a job: refused the same way, and no upload is left open.
    await expectRefusal(await tusCreate(key, 100, { target: 'jpg' }, 0), 429, 'rate_limited', message, '30');
    expect(await jobsOf(key)).toBe(4);
    expect(await uploadsOf(key)).toBe(0);

    // Another key is not affected.
    expect((await post('/v1/jobs', stack.otherKey, { process: false, conversion: [{ target: 'jpg' }] })).status).toBe(
      201,
    );

    // A canceled job is final: its place is free.
    expect((await stack.api(`/v1/jobs/${ids[0]}`, { key, method: 'DELETE' })).status).toBe(200);
    expect((await post('/v1/jobs', key, { process: false, conversion: [{ target: 'jpg' }] }, 1)).status).toBe(201);
    expect(await jobsOf(key)).toBe(5);
  });

  it('keeps each key within its storage quota: stored inputs plus declared open uploads; 413 naming the quota, nothing stored', async () => {
    const key = keys.quota;
    const job = await json(post('/v1/jobs', key, { process: false, conversion: [{ target: 'jpg' }] }));
    const whole = (bytes: number, name: string, body?: ReadableStream<Uint8Array>) =>
      stack.api(`/v1/jobs/${job.id}/upload`, {
        key,
        method: 'POST',
        headers: { 'X-File-Name': name },
        body: body ?? randomBytes(bytes),
        ...(body ? { duplex: 'half' } : {}),
      } as RequestInit);
    expect((await whole(6000, 'first.bin')).status).toBe(201);
    const inputsBefore = await count('SELECT count(*) AS n FROM inputs WHERE job_id = $1', job.id);

    const over = (needs: number, used: number) =>
      `The upload needs ${needs} bytes but this API key stores ${used} bytes of its ${QUOTA}-byte storage quota (${QUOTA - used} left); delete jobs to free space.`;
    const session = await post('/v1/uploads', key, { filename: 'a.bin', size: 5000 }, 1);
    const body = await expectRefusal(session, 413, 'payload_too_large', over(5000, 6000));
    expect(body.error.details).toEqual([
      {
        field: 'size',
        message: `storage quota of ${QUOTA} bytes per API key`,
        quota: QUOTA,
        used: 6000,
        requested: 5000,
      },
    ]);
    await expectRefusal(await tusCreate(key, 5000), 413, 'payload_too_large', over(5000, 6000));
    const chunk = await stack.api(`/v1/jobs/${job.id}/upload`, {
      key,
      method: 'POST',
      headers: { 'X-Upload-Id': 'big', 'Content-Range': 'bytes 0-999/5000' },
      body: randomBytes(1000),
    });
    await expectRefusal(chunk, 413, 'payload_too_large', over(5000, 6000));
    await expectRefusal(await whole(5000, 'second.bin'), 413, 'payload_too_large', over(5000, 6000));
    // A body of unknown length is cut where the quota ends.
    const streamed = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(randomBytes(5000)));
        c.close();
      },
    });
    const cut = await whole(0, 'third.bin', streamed);
    const cutBody = await json(cut);
    expect([cut.status, cutBody.error.code, cutBody.error.message]).toEqual([
      413,
      'payload_too_large',
      `The upload needs more bytes but this API key stores 6000 bytes of its ${QUOTA}-byte storage quota (4000 left); delete jobs to free space.`,
    ]);
    // Nothing of the refused requests was stored.
    expect(await uploadsOf(key)).toBe(0);
    expect(await count('SELECT count(*) AS n FROM inputs WHERE job_id = $1 AND object_key IS NOT NULL', job.id)).toBe(
      1,
    );
    expect(await count('SELECT count(*) AS n FROM inputs WHERE job_id = $1', job.id)).toBe(inputsBefore);
    expect((await objects(`inputs/${job.id}/`)).map((k) => k.split('/').pop())).toEqual(['first.bin']);
    expect(await objects('chunks/')).toEqual([]);

    // A declared size counts while the upload is open: 3000 fit, then 1001 more do not.
    expect((await post('/v1/uploads', key, { filename: 'a.bin', size: 3000 }, 0)).status).toBe(201);
    await expectRefusal(
      await post('/v1/uploads', key, { filename: 'b.bin', size: 1001 }, 1),
      413,
      'payload_too_large',
      over(1001, 9000),
    );
    // tus with a deferred length: refused when the length is declared.
    const deferred = await stack.api('/v1/tus/', {
      key,
      method: 'POST',
      headers: { ...TUS, 'Upload-Defer-Length': '1', 'Upload-Metadata': `filename ${b64('d.bin')}` },
    });
    expect(deferred.status).toBe(201);
    const declare = await fetch(deferred.headers.get('location')!, {
      method: 'PATCH',
      headers: {
        ...TUS,
        'X-Api-Key': key,
        'Upload-Offset': '0',
        'Upload-Length': '2000',
        'Content-Type': 'application/offset+octet-stream',
      },
      body: new Uint8Array(0),
    });
    await expectRefusal(declare, 413, 'payload_too_large', over(2000, 9000));
    expect(
      await count('SELECT count(*) AS n FROM uploads WHERE owner_key_hash = $1 AND length_deferred', hashKey(key)),
    ).toBe(1);

    // Another key is not affected.
    expect((await post('/v1/uploads', stack.otherKey, { filename: 'a.bin', size: 5000 })).status).toBe(201);

    // Deleting the job frees its stored bytes.
    expect((await stack.api(`/v1/jobs/${job.id}`, { key, method: 'DELETE' })).status).toBe(200);
    expect((await post('/v1/uploads', key, { filename: 'a.bin', size: 5000 }, 1)).status).toBe(201);
  });
});
