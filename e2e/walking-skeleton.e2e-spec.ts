// The walking skeleton end to end: gateway, assembler and two converters as separate OS processes,
// a local HTTP callback receiver, real PostgreSQL, Redis, S3 (radosgw) and ffmpeg. Bad input is in
// walking-skeleton-errors.e2e-spec.ts, remote inputs in remote-inputs.e2e-spec.ts.
import { createReadStream } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { probe } from '../libs/media/src/probe';
import { verifyCallback } from '../libs/outbound-http/src/callback-signature';
import { useSkeletonStack } from '../test/e2e-helpers/skeleton';
import { json, waitFor } from '../test/stack';

jest.setTimeout(180_000);

describe('walking skeleton: upload → convert → callback (real processes)', () => {
  const s = useSkeletonStack();
  const { stack, receiver, createJob, finished } = s;

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
    form.append('file', new Blob([await import('node:fs/promises').then((f) => f.readFile(s.wav))]), 'tone.wav');
    const up = await fetch(`${stack.url}/v1/jobs/${job.id}/upload`, {
      method: 'POST',
      body: form,
      headers: { 'X-Job-Token': job.token },
    });
    expect(up.status).toBe(201);
    const uploaded = await json(up);
    expect(uploaded).toMatchObject({
      complete: true,
      // The kind is read from the bytes as they pass: known in the upload's own answer.
      input: { status: 'ready', filename: 'tone.wav', size: (await stat(s.wav)).size, kind: 'audio', format: 'wav' },
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
    const out = path.join(s.tmp.dir, 'out.mp3');
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
    const size = (await stat(s.wav)).size;
    const res = await stack.api(`/v1/jobs/${job.id}/upload`, {
      method: 'POST',
      headers: { 'X-File-Name': 'raw%20tone.wav', 'Content-Type': 'audio/wav', 'Content-Length': String(size) },
      body: Readable.toWeb(createReadStream(s.wav)) as unknown as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(201);
    expect((await json(res)).input).toMatchObject({
      filename: 'raw tone.wav',
      size,
      content_type: 'audio/wav',
      kind: 'audio',
      format: 'wav',
    });
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
});
