// The walking skeleton end to end: gateway, assembler and two converters as separate OS processes,
// a local HTTP callback receiver, real PostgreSQL, Redis, S3 (radosgw) and ffmpeg.
import { createReadStream } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { probe } from '../libs/media/src/probe';
import { makeAudio, makeNonMedia, makeTempDir } from '../libs/media/src/testing';
import { verifyCallback } from '../libs/outbound-http/src/callback-signature';
import { CallbackReceiver } from '../test/callback-receiver';
import { Stack, freePort, json, waitFor } from '../test/stack';

jest.setTimeout(180_000);

const MAX_FILE = 8 * 1024 * 1024;

describe('walking skeleton: upload → convert → callback (real processes)', () => {
  const stack = new Stack();
  const receiver = new CallbackReceiver();
  let tmp: { dir: string; remove: () => Promise<void> };
  let wav: string;

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-e2e-');
    wav = await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 3, format: 'wav' });
    await receiver.start();
    await stack.start({ converters: 2, env: { KILN_MAX_FILE_SIZE: String(MAX_FILE) } });
  });

  afterAll(async () => {
    await stack.stop();
    await receiver.stop();
    await tmp?.remove();
  });

  async function createJob(body: unknown, key?: string) {
    const res = await stack.api('/v1/jobs', {
      method: 'POST',
      key,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { res, json: await json(res) };
  }

  async function uploadMultipart(jobId: string, file: string, headers: Record<string, string> = {}) {
    const form = new FormData();
    const bytes = await import('node:fs/promises').then((f) => f.readFile(file));
    form.append('file', new Blob([bytes]), path.basename(file));
    return stack.api(`/v1/jobs/${jobId}/upload`, { method: 'POST', body: form, headers });
  }

  async function finished(jobId: string) {
    return waitFor(
      'job to finish',
      async () => {
        const j = await json(stack.api(`/v1/jobs/${jobId}`));
        return ['completed', 'failed', 'canceled'].includes(j.status.code) ? j : undefined;
      },
      120_000,
    );
  }

  it('converts a WAV to MP3, signs the callback, and serves a working download URL', async () => {
    const { res, json: job } = await createJob({
      input: [{ type: 'upload' }],
      conversion: [{ target: 'mp3' }],
      callback: receiver.url,
      tag: 'e2e',
    });
    expect(res.status).toBe(201);
    expect(job).toMatchObject({
      status: { code: 'incomplete' },
      process: true,
      tag: 'e2e',
      input: [{ type: 'upload', status: 'pending' }],
      conversion: [{ target: 'mp3', category: 'audio' }],
    });
    expect(job.token).toMatch(/^[0-9a-f]{32}$/);

    // The browser-style upload: the job token, not the account key.
    const form = new FormData();
    form.append('file', new Blob([await import('node:fs/promises').then((f) => f.readFile(wav))]), 'tone.wav');
    const up = await fetch(`${stack.url}/v1/jobs/${job.id}/upload`, {
      method: 'POST',
      body: form,
      headers: { 'X-Job-Token': job.token },
    });
    expect(up.status).toBe(201);
    const uploaded = await json(up);
    expect(uploaded).toMatchObject({
      complete: true,
      input: { status: 'ready', filename: 'tone.wav', size: (await stat(wav)).size },
    });
    expect(uploaded.input.checksum_sha256).toMatch(/^[0-9a-f]{64}$/);

    const cb = await waitFor('callback', async () => receiver.forJob(job.id)[0], 120_000);
    expect(cb.headers['content-type']).toMatch(/application\/json/);
    expect(cb.headers['x-kiln-event']).toBe('job.completed');
    expect(cb.headers['x-kiln-delivery']).toMatch(/^[0-9a-f-]{36}$/);
    expect(verifyCallback(stack.webhookSecret, cb.body, String(cb.headers['x-kiln-signature']))).toBe(true);
    expect(verifyCallback('wrong-secret-0123456789', cb.body, String(cb.headers['x-kiln-signature']))).toBe(false);
    expect(cb.json).toMatchObject({ id: job.id, status: { code: 'completed' }, progress: 100, errors: [] });
    expect(cb.json.token).toBeUndefined();
    expect(cb.json.output).toHaveLength(1);

    const final = await finished(job.id);
    expect(final.status.code).toBe('completed');
    expect(final.started_at).not.toBeNull();
    expect(final.finished_at).not.toBeNull();
    expect(final.spent_ms).toBeGreaterThan(0);
    expect(final.input[0].media).toMatchObject({ kind: 'audio' });

    const outputs = await json(stack.api(`/v1/jobs/${job.id}/output`));
    expect(outputs).toHaveLength(1);
    expect(outputs[0]).toMatchObject({
      filename: 'tone.mp3',
      content_type: 'audio/mpeg',
      input_id: job.input[0].id,
      conversion_id: job.conversion[0].id,
    });
    const download = await fetch(outputs[0].uri);
    expect(download.status).toBe(200);
    const out = path.join(tmp.dir, 'out.mp3');
    await writeFile(out, Buffer.from(await download.arrayBuffer()));
    expect((await stat(out)).size).toBe(outputs[0].size);
    const info = await probe(out, { timeoutMs: 10_000 });
    expect(info).toMatchObject({ kind: 'audio', audio_codec: 'mp3' });
    expect(info.duration_s).toBeGreaterThan(2.5);

    // The download route redirects to a fresh URL.
    const redirect = await stack.api(`/v1/jobs/${job.id}/output/${outputs[0].id}/download`, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toMatch(/^http/);

    const deliveries = await json(stack.api(`/v1/jobs/${job.id}/callbacks`));
    expect(deliveries).toEqual([
      expect.objectContaining({ event: 'job.completed', attempt: 1, status_code: 200, error: null }),
    ]);
  });

  it('streams a raw-body upload (X-File-Name) without buffering and converts it', async () => {
    const { json: job } = await createJob({ conversion: [{ target: 'ogg', options: { audio_bitrate: 96 } }] });
    const size = (await stat(wav)).size;
    const res = await stack.api(`/v1/jobs/${job.id}/upload`, {
      method: 'POST',
      headers: { 'X-File-Name': 'raw%20tone.wav', 'Content-Type': 'audio/wav', 'Content-Length': String(size) },
      body: Readable.toWeb(createReadStream(wav)) as unknown as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(201);
    expect((await json(res)).input).toMatchObject({ filename: 'raw tone.wav', size, content_type: 'audio/wav' });
    const final = await finished(job.id);
    expect(final.status.code).toBe('completed');
    expect(final.output[0]).toMatchObject({ filename: 'raw tone.ogg', content_type: 'audio/ogg' });
  });

  it('lists jobs newest first with a cursor, filtered by status, only for the calling key', async () => {
    const made: string[] = [];
    for (let i = 0; i < 3; i++) made.push((await createJob({ process: false, tag: `list-${i}` })).json.id);
    await createJob({ process: false }, stack.otherKey);
    const page1 = await json(stack.api('/v1/jobs?limit=2&status=incomplete'));
    expect(page1.items.map((j: { id: string }) => j.id)).toEqual([made[2], made[1]]);
    expect(page1.next_cursor).toEqual(expect.any(String));
    const page2 = await json(stack.api(`/v1/jobs?limit=2&status=incomplete&cursor=${page1.next_cursor}`));
    expect(page2.items[0].id).toBe(made[0]);
    const all = await json(stack.api('/v1/jobs?limit=100'));
    expect(all.items.every((j: { token?: string }) => j.token === undefined)).toBe(true);
    const mine = new Set(all.items.map((j: { id: string }) => j.id));
    const theirs = await json(stack.api('/v1/jobs?limit=100', { key: stack.otherKey }));
    expect(theirs.items.some((j: { id: string }) => mine.has(j.id))).toBe(false);
  });

  it('serves the OpenAPI document and a readable index at /docs', async () => {
    const doc = await json(fetch(`${stack.url}/docs/openapi.json`));
    expect(doc.openapi).toBe('3.1.0');
    for (const p of [
      '/v1/jobs',
      '/v1/jobs/{id}',
      '/v1/jobs/{id}/upload',
      '/v1/jobs/{id}/output',
      '/v1/jobs/{id}/events',
      '/v1/uploads',
      '/v1/uploads/{id}',
      '/v1/uploads/{id}/complete',
      '/v1/formats',
    ]) {
      expect(Object.keys(doc.paths)).toContain(p);
    }
    const html = await fetch(`${stack.url}/docs`);
    expect(html.headers.get('content-type')).toMatch(/text\/html/);
    expect(await html.text()).toContain('/v1/uploads/{id}/complete');
  });

  describe('bad input gets the JSON errors of the API table', () => {
    // biome-ignore lint/suspicious/noExplicitAny: parsed JSON of any shape, checked by the assertions
    const expectError = async (res: Response, status: number, code: string, parsed?: any) => {
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
      const body = parsed ?? (await json(res));
      expect(body).toEqual({ error: expect.objectContaining({ code, message: expect.any(String) }) });
      expect(JSON.stringify(body)).not.toMatch(/at .*\.js:\d+/); // no stack traces
      return body.error;
    };

    it('401 without or with a wrong API key', async () => {
      await expectError(await stack.api('/v1/jobs', { key: null }), 401, 'unauthorized');
      await expectError(await stack.api('/v1/jobs', { key: 'kiln_not_a_real_key_000000' }), 401, 'unauthorized');
      await expectError(
        await fetch(`${stack.url}/v1/jobs`, { headers: { Authorization: 'Basic abc' } }),
        401,
        'unauthorized',
      );
    });

    it('404 for an unknown job and for another key’s job; 403 for another job’s token', async () => {
      await expectError(await stack.api('/v1/jobs/5b0a3f5e-1111-4222-8333-944445555666'), 404, 'not_found');
      await expectError(await stack.api('/v1/jobs/not-a-uuid'), 404, 'not_found');
      const { json: mine } = await createJob({ conversion: [{ target: 'mp3' }] });
      await expectError(await stack.api(`/v1/jobs/${mine.id}`, { key: stack.otherKey }), 404, 'not_found');
      const { json: other } = await createJob({ conversion: [{ target: 'mp3' }] });
      await expectError(
        await fetch(`${stack.url}/v1/jobs/${mine.id}/upload`, {
          method: 'POST',
          headers: { 'X-Job-Token': other.token, 'X-File-Name': 'a.wav' },
          body: 'x',
        }),
        403,
        'forbidden',
      );
      await expectError(
        await fetch(`${stack.url}/v1/jobs/${mine.id}`, { headers: { 'X-Job-Token': mine.token } }),
        403,
        'forbidden',
      );
    });

    it('400 invalid_input naming the field: unknown target, bad option, malformed JSON', async () => {
      const { res, json: b1 } = await createJob({ conversion: [{ target: 'mp5' }] });
      const e1 = await expectError(res, 400, 'invalid_input', b1);
      expect(e1.details).toEqual([expect.objectContaining({ field: 'conversion.0.target' })]);
      const { res: r2, json: b2 } = await createJob({ conversion: [{ target: 'mp3', options: { audio_bitrate: 5 } }] });
      expect((await expectError(r2, 400, 'invalid_input', b2)).details[0].field).toBe(
        'conversion.0.options.audio_bitrate',
      );
      const r3 = await stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{"conversion": [',
      });
      await expectError(r3, 400, 'invalid_input');
      const { res: r4, json: b4 } = await createJob({ conversion: [{ target: 'mp3' }], colour: 'red' });
      expect((await expectError(r4, 400, 'invalid_input', b4)).details[0].field).toBe('colour');
    });

    it('a non-media file for an audio target fails the job with a clear error (no crash)', async () => {
      const bad = await makeNonMedia(path.join(tmp.dir, 'notes.wav'));
      const { json: job } = await createJob({
        input: [{ type: 'upload' }],
        conversion: [{ target: 'mp3' }],
        callback: receiver.url,
      });
      expect((await uploadMultipart(job.id, bad)).status).toBe(201);
      const final = await finished(job.id);
      expect(final.status.code).toBe('failed');
      expect(final.errors).toEqual([
        expect.objectContaining({
          code: 'unprocessable',
          source: 'conversion',
          input_id: job.input[0].id,
          conversion_id: job.conversion[0].id,
          message: expect.stringMatching(/not a readable media file/),
        }),
      ]);
      const cb = await waitFor('failed callback', async () => receiver.forJob(job.id)[0]);
      expect(cb.headers['x-kiln-event']).toBe('job.failed');
      // The converters are still alive and serving.
      expect(stack.apps.filter((a) => a.app === 'converter').every((a) => a.child.exitCode === null)).toBe(true);
    });

    it('413 for an upload over the size limit, and the job still accepts a good file', async () => {
      const { json: job } = await createJob({ conversion: [{ target: 'mp3' }] });
      const big = Buffer.alloc(MAX_FILE + 1024 * 1024, 1);
      const res = await stack.api(`/v1/jobs/${job.id}/upload`, {
        method: 'POST',
        headers: { 'X-File-Name': 'big.wav' },
        body: big,
      });
      const e = await expectError(res, 413, 'payload_too_large');
      expect(e.message).toMatch(/limit/);
      // multipart: refused from its Content-Length before any byte is stored
      const form = new FormData();
      form.append('file', new Blob([big]), 'big.wav');
      await expectError(
        await stack.api(`/v1/jobs/${job.id}/upload`, { method: 'POST', body: form }),
        413,
        'payload_too_large',
      );
      // no Content-Length (chunked transfer): streamed until the limit, then refused
      const chunked = await stack.api(`/v1/jobs/${job.id}/upload`, {
        method: 'POST',
        headers: { 'X-File-Name': 'big.wav' },
        body: Readable.toWeb(
          Readable.from([big.subarray(0, 4 << 20), big.subarray(4 << 20)]),
        ) as unknown as ReadableStream,
        duplex: 'half',
      } as RequestInit);
      await expectError(chunked, 413, 'payload_too_large');
      const after = await json(stack.api(`/v1/jobs/${job.id}`));
      expect(after.status.code).toBe('incomplete');
      expect(after.input.every((i: { status: string }) => i.status !== 'ready')).toBe(true);
      expect((await uploadMultipart(job.id, wav)).status).toBe(201);
      expect((await finished(job.id)).status.code).toBe('completed');
    });

    it('409 job_locked for an upload after processing started; 409 for PATCH without inputs', async () => {
      const { json: job } = await createJob({ conversion: [{ target: 'mp3' }] });
      expect((await uploadMultipart(job.id, wav)).status).toBe(201);
      await expectError(await uploadMultipart(job.id, wav), 409, 'job_locked');
      const { json: empty } = await createJob({ process: false });
      const patch = await stack.api(`/v1/jobs/${empty.id}`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ process: true }),
      });
      await expectError(patch, 409, 'conflict');
    });

    it('unknown routes are JSON 404s; health and formats need no key', async () => {
      await expectError(await stack.api('/v1/nothing-here'), 404, 'not_found');
      expect((await fetch(`${stack.url}/health/live`)).status).toBe(200);
      const ready = await json(fetch(`${stack.url}/health/ready`));
      expect(ready.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok])).toEqual([
        ['database', true],
        ['redis', true],
        ['storage', true],
      ]);
      const formats = await json(fetch(`${stack.url}/v1/formats`));
      expect(formats.map((f: { target: string }) => f.target)).toEqual(
        expect.arrayContaining(['mp4', 'webm', 'mp3', 'png', 'jpg']),
      );
    });
  });
});

describe('remote inputs (fetched by the assembler)', () => {
  const stack = new Stack();
  let server: import('node:http').Server;
  let base = '';
  let wavBytes: Buffer;
  let tmp: { dir: string; remove: () => Promise<void> };
  const trickle = { opened: 0, closed: 0 };

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-remote-');
    wavBytes = await import('node:fs/promises').then(async (f) =>
      f.readFile(await makeAudio({ path: path.join(tmp.dir, 'r.wav'), seconds: 2, format: 'wav' })),
    );
    const http = await import('node:http');
    server = http.createServer((req, res) => {
      if (req.url === '/redirect') return void res.writeHead(302, { Location: '/files/remote.wav' }).end();
      if (req.url === '/files/remote.wav')
        return void res
          .writeHead(200, { 'Content-Type': 'audio/wav', 'Content-Length': wavBytes.length })
          .end(wavBytes);
      if (req.url === '/trickle.wav') {
        // A slow server: 1 KiB every 200 ms of a 1 GiB body, so the download is in flight until someone stops it.
        trickle.opened++;
        res.writeHead(200, { 'Content-Type': 'audio/wav', 'Content-Length': 1024 ** 3 });
        const timer = setInterval(() => res.write(Buffer.alloc(1024)), 200);
        res.on('close', () => {
          clearInterval(timer);
          trickle.closed++;
        });
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    await stack.start({ converters: 1 });
  });

  afterAll(async () => {
    await stack.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await tmp?.remove();
  });

  it('fetches a remote input through a redirect and converts it', async () => {
    const res = await stack.api('/v1/jobs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        input: [{ type: 'remote', source: `${base}/redirect` }],
        conversion: [{ target: 'mp3' }],
      }),
    });
    expect(res.status).toBe(201);
    const job = await json(res);
    const final = await waitFor(
      'job end',
      async () => {
        const j = await json(stack.api(`/v1/jobs/${job.id}`));
        return ['completed', 'failed'].includes(j.status.code) ? j : undefined;
      },
      120_000,
    );
    expect(final.status.code).toBe('completed');
    expect(final.input[0]).toMatchObject({
      type: 'remote',
      status: 'ready',
      filename: 'remote.wav',
      size: wavBytes.length,
    });
    expect(final.output[0].filename).toBe('remote.mp3');
  });

  it('cancel stops a remote download in flight (the assembler drops the connection) and sends job.canceled', async () => {
    const job = await json(
      stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          input: [{ type: 'remote', source: `${base}/trickle.wav` }],
          conversion: [{ target: 'mp3' }],
        }),
      }),
    );
    await waitFor(
      'download started',
      async () => trickle.opened > 0 && (await json(stack.api(`/v1/jobs/${job.id}/input`)))[0].status === 'uploading',
    );
    expect(trickle.closed).toBe(0);
    const res = await stack.api(`/v1/jobs/${job.id}`, { method: 'DELETE' });
    expect((await json(res)).status.code).toBe('canceled');
    // The body would take days at this rate; only the cancel signal closes the connection.
    await waitFor('connection closed by the assembler', async () => trickle.closed === trickle.opened, 30_000);
    const assembler = stack.apps.find((a) => a.app === 'assembler')!;
    await waitFor(
      'log line',
      async () =>
        assembler.output
          .join('')
          .split('\n')
          .some((l) => l.includes(job.id) && l.includes('remote download stopped')),
      10_000,
    );
    expect((await json(stack.api(`/v1/jobs/${job.id}`))).status.code).toBe('canceled');
  });

  it('a remote input that answers 404 fails the job with an input error', async () => {
    const job = await json(
      stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          input: [{ type: 'remote', source: `${base}/missing.wav` }],
          conversion: [{ target: 'mp3' }],
        }),
      }),
    );
    const final = await waitFor(
      'job end',
      async () => {
        const j = await json(stack.api(`/v1/jobs/${job.id}`));
        return ['completed', 'failed'].includes(j.status.code) ? j : undefined;
      },
      120_000,
    );
    expect(final.status.code).toBe('failed');
    expect(final.errors).toEqual([
      expect.objectContaining({ source: 'input', input_id: job.input[0].id, message: expect.stringMatching(/404/) }),
    ]);
  });

  it('by default (KILN_ALLOW_PRIVATE_URLS unset) refuses private, loopback and metadata addresses', async () => {
    const guardedPort = await freePort();
    stack.spawnApp('api-gateway', 'gateway-guarded', {
      KILN_PORT: String(guardedPort),
      KILN_HOST: '127.0.0.1',
      KILN_ALLOW_PRIVATE_URLS: 'false',
    });
    const guardedUrl = `http://127.0.0.1:${guardedPort}`;
    await stack.waitReady(guardedUrl);
    for (const source of [
      'http://127.0.0.1/a.wav',
      'http://10.0.0.1/a.wav',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/a.wav',
      'http://localhost/a.wav',
    ]) {
      const res = await stack.api('/v1/jobs', {
        base: guardedUrl,
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ input: [{ type: 'remote', source }], conversion: [{ target: 'mp3' }] }),
      });
      expect(res.status).toBe(400);
      expect((await json(res)).error.details).toEqual([expect.objectContaining({ field: 'input.0.source' })]);
    }
    const cb = await stack.api('/v1/jobs', {
      base: guardedUrl,
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ callback: 'http://169.254.169.254/hook' }),
    });
    expect(cb.status).toBe(400);
    expect((await json(cb)).error.details[0].field).toBe('callback');
  });
});
