// The walking skeleton end to end, bad input: the JSON errors of the API table from gateway,
// assembler and two converters as separate OS processes, a local HTTP callback receiver, real
// PostgreSQL, Redis, S3 (radosgw) and ffmpeg.
import path from 'node:path';
import { Readable } from 'node:stream';
import { makeNonMedia } from '../libs/media/src/testing';
import { MAX_FILE, useSkeletonStack } from '../test/e2e-helpers/skeleton';
import { json, waitFor } from '../test/stack';

jest.setTimeout(180_000);

describe('walking skeleton: upload → convert → callback (real processes)', () => {
  const s = useSkeletonStack();
  const { stack, receiver, createJob, uploadMultipart, finished } = s;

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
      const bad = await makeNonMedia(path.join(s.tmp.dir, 'notes.wav'));
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
      expect((await uploadMultipart(job.id, s.wav)).status).toBe(201);
      expect((await finished(job.id)).status.code).toBe('completed');
    });

    it('409 job_locked for an upload after processing started; 409 for PATCH without inputs', async () => {
      const { json: job } = await createJob({ conversion: [{ target: 'mp3' }] });
      expect((await uploadMultipart(job.id, s.wav)).status).toBe(201);
      await expectError(await uploadMultipart(job.id, s.wav), 409, 'job_locked');
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
