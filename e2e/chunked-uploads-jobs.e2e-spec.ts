// Chunked uploads into jobs, end to end: files chunked into a job or sent as upload sessions,
// several conversions, standalone sessions attached as job inputs; two gateway processes, an
// assembler and a converter as OS processes, real PostgreSQL, Redis, S3 and ffmpeg.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { makeAudio, makeVideo } from '../libs/media/src/testing';
import { useChunkedUploadStack } from '../test/e2e-helpers/chunked-uploads';
import { untilQueueIdle } from '../test/e2e-helpers/queues';
import { chunkRanges } from '../test/files';
import { json, waitFor } from '../test/stack';

jest.setTimeout(300_000);

describe('chunked uploads and assembly (real processes, two gateways)', () => {
  const c = useChunkedUploadStack();
  const { stack, receiver, jsonPost, putChunk, jobChunk, runMaintenance, assembled, keysUnder } = c;

  it('two files (chunked into the job + an upload session) × two conversions → four outputs, one callback after all', async () => {
    const wav = await makeAudio({ path: path.join(c.tmp.dir, 'a.wav'), seconds: 2, format: 'wav' });
    const mp4 = await makeVideo({
      path: path.join(c.tmp.dir, 'b.mp4'),
      seconds: 2,
      width: 320,
      height: 240,
      audio: true,
    });
    const job = await json(
      jsonPost('/v1/jobs', { process: false, callback: receiver.url, input: [{ type: 'upload' }, { type: 'upload' }] }),
    );
    for (const target of ['mp3', 'flac'])
      expect((await jsonPost(`/v1/jobs/${job.id}/conversions`, { target })).status).toBe(201);

    const wavSize = (await stat(wav)).size;
    const ranges = chunkRanges(wavSize, 128 * 1024);
    let last: Response | undefined;
    for (const [i, r] of ranges.entries()) {
      last = await jobChunk(job.id, 'wav-1', wav, r, wavSize, stack.gatewayUrls[i % 2]);
      expect(last.status).toBe(i === ranges.length - 1 ? 201 : 202);
    }
    expect(await json(last!)).toMatchObject({ complete: true, input: { id: job.input[0].id, filename: 'a.wav' } });

    const mp4Size = (await stat(mp4)).size;
    const s = await json(
      stack.api('/v1/uploads', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Job-Token': job.token },
        key: null,
        body: JSON.stringify({ filename: 'b.mp4', size: mp4Size, job_id: job.id }),
      }),
    );
    expect(s.input_id).toBe(job.input[1].id);
    const put = await fetch(`${stack.url}/v1/uploads/${s.id}`, {
      method: 'PUT',
      headers: { 'X-Job-Token': job.token, 'Content-Range': `bytes 0-${mp4Size - 1}/${mp4Size}` },
      body: await readFile(mp4),
    });
    expect(put.status).toBe(201);
    expect((await json(put)).status).toBe('complete');

    await waitFor('inputs ready', async () =>
      (await json(stack.api(`/v1/jobs/${job.id}/input`))).every((i: { status: string }) => i.status === 'ready'),
    );
    expect((await json(stack.api(`/v1/jobs/${job.id}`))).status.code).toBe('incomplete'); // process: false waits
    const patched = await stack.api(`/v1/jobs/${job.id}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ process: true }),
    });
    expect(patched.status).toBe(200);

    const cb = await waitFor('callback', async () => receiver.forJob(job.id)[0], 180_000);
    expect(cb.json.status.code).toBe('completed');
    expect(cb.json.output).toHaveLength(4);
    const pairs = cb.json.output
      .map((o: { input_id: string; conversion_id: string; filename: string }) => o.filename)
      .sort();
    expect(pairs).toEqual(['a.flac', 'a.mp3', 'b.flac', 'b.mp3']);
    // No second delivery is coming: the callback queue holds nothing more.
    await untilQueueIdle(stack.env.REDIS_URL, stack.env.KILN_QUEUE_PREFIX, 'callback', 'the callback queue to drain');
    expect(receiver.forJob(job.id)).toHaveLength(1);
    const outputs = await json(stack.api(`/v1/jobs/${job.id}/output`));
    expect(outputs).toHaveLength(4);
  });

  it('with process: true the first completed file starts the job and later uploads get 409 job_locked', async () => {
    const wav = path.join(c.tmp.dir, 'a.wav');
    const size = (await stat(wav)).size;
    const job = await json(
      jsonPost('/v1/jobs', { conversion: [{ target: 'mp3' }], input: [{ type: 'upload' }, { type: 'upload' }] }),
    );
    const done = await jobChunk(job.id, 'first', wav, { start: 0, end: size - 1 }, size);
    expect(done.status).toBe(201);
    await waitFor(
      'job started',
      async () => !['incomplete', 'downloading'].includes((await json(stack.api(`/v1/jobs/${job.id}`))).status.code),
    );
    const later = await jobChunk(job.id, 'second', wav, { start: 0, end: size - 1 }, size);
    expect(later.status).toBe(409);
    expect((await json(later)).error.code).toBe('job_locked');
  });

  describe('standalone upload sessions become job inputs (input {type: upload, upload_id})', () => {
    async function standaloneUpload(name: string, opts: { complete: boolean; expires_at?: number }) {
      const wav = await makeAudio({ path: path.join(c.tmp.dir, name), seconds: 2, format: 'wav' });
      const size = (await stat(wav)).size;
      const s = await json(
        jsonPost('/v1/uploads', {
          filename: name,
          size,
          content_type: 'audio/wav',
          ...(opts.expires_at ? { expires_at: opts.expires_at } : {}),
        }),
      );
      const half = Math.ceil(size / 2);
      expect((await putChunk(s.id, wav, { start: 0, end: half - 1 }, size)).status).toBe(202);
      const last = () => putChunk(s.id, wav, { start: half, end: size - 1 }, size);
      if (opts.complete) {
        expect((await last()).status).toBe(201);
        await assembled(s.id);
      }
      return { id: s.id as string, size, last };
    }

    it('an assembled upload is ready at once; it converts; it cannot be attached twice or by another key; cancel deletes its file', async () => {
      const up = await standaloneUpload('standalone.wav', { complete: true });
      const stored = await keysUnder(`uploads/${up.id}/`);
      expect(stored).toHaveLength(1);
      expect(path.basename(stored[0])).toBe('standalone.wav');
      const other = await stack.api('/v1/jobs', {
        method: 'POST',
        key: stack.otherKey,
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ input: [{ type: 'upload', upload_id: up.id }], conversion: [{ target: 'mp3' }] }),
      });
      expect(other.status).toBe(404);
      expect((await json(other)).error.details[0].field).toBe('upload_id');

      const job = await json(
        jsonPost('/v1/jobs', {
          input: [{ type: 'upload', upload_id: up.id }],
          conversion: [{ target: 'mp3' }],
          callback: receiver.url,
        }),
      );
      expect(job.input[0]).toMatchObject({
        type: 'upload',
        filename: 'standalone.wav',
        size: up.size,
        status: 'ready',
      });
      const cb = await waitFor('callback', async () => receiver.forJob(job.id)[0], 120_000);
      expect(cb.json.status.code).toBe('completed');
      expect(cb.json.output.map((o: { filename: string }) => o.filename)).toEqual(['standalone.mp3']);
      expect(await json(stack.api(`/v1/uploads/${up.id}`))).toMatchObject({
        job_id: job.id,
        input_id: job.input[0].id,
        status: 'complete',
      });

      const again = await jsonPost('/v1/jobs', {
        input: [{ type: 'upload', upload_id: up.id }],
        conversion: [{ target: 'mp3' }],
      });
      expect(again.status).toBe(409);
      expect((await json(again)).error.code).toBe('conflict');
      const both = await jsonPost('/v1/jobs', { input: [{ type: 'upload', upload_id: up.id, size: 3 }] });
      expect(both.status).toBe(400);

      // The job owns the file now: deleting the job deletes it.
      const running = await json(jsonPost('/v1/jobs', { process: false, conversion: [{ target: 'flac' }] }));
      const up2 = await standaloneUpload('standalone2.wav', { complete: true });
      const added = await jsonPost(`/v1/jobs/${running.id}/input`, { type: 'upload', upload_id: up2.id });
      expect(added.status).toBe(201);
      expect(await json(added)).toMatchObject({ status: 'ready', filename: 'standalone2.wav' });
      expect((await stack.api(`/v1/jobs/${running.id}`, { method: 'DELETE' })).status).toBe(200);
      expect(await keysUnder(`uploads/${up2.id}/`)).toEqual([]);
    });

    it('an upload attached while bytes are missing starts the job when its last chunk arrives', async () => {
      const up = await standaloneUpload('later.wav', { complete: false });
      const job = await json(
        jsonPost('/v1/jobs', { process: false, conversion: [{ target: 'mp3' }], callback: receiver.url }),
      );
      const input = await json(jsonPost(`/v1/jobs/${job.id}/input`, { type: 'upload', upload_id: up.id }));
      expect(input).toMatchObject({ status: 'uploading', filename: 'later.wav', size: up.size });
      expect(
        (
          await json(
            stack.api(`/v1/jobs/${job.id}`, {
              method: 'PATCH',
              headers: { 'Content-Type': 'application/json' },
              body: JSON.stringify({ process: true }),
            }),
          )
        ).status.code,
      ).toBe('incomplete');
      expect((await up.last()).status).toBe(201);
      const cb = await waitFor('callback', async () => receiver.forJob(job.id)[0], 120_000);
      expect(cb.json.status.code).toBe('completed');
      expect(cb.json.input[0]).toMatchObject({ id: input.id, status: 'ready' });
    });

    it('an assembled upload that no job claimed is removed, file and all, once it expires', async () => {
      const up = await standaloneUpload('unclaimed.wav', {
        complete: true,
        // Long enough that uploading and assembling on a busy machine never outlive it before the first check.
        expires_at: Math.floor(Date.now() / 1000) + 10,
      });
      await runMaintenance();
      expect((await stack.api(`/v1/uploads/${up.id}`)).status).toBe(200); // not expired yet: kept
      expect(await keysUnder(`uploads/${up.id}/`)).toHaveLength(1);
      await waitFor(
        'expiry',
        async () => Date.now() / 1000 > (await json(stack.api(`/v1/uploads/${up.id}`))).expires_at + 0.5,
        20_000,
      );
      const late = await jsonPost('/v1/jobs', {
        input: [{ type: 'upload', upload_id: up.id }],
        conversion: [{ target: 'mp3' }],
      });
      expect(late.status).toBe(404);
      await runMaintenance();
      expect((await stack.api(`/v1/uploads/${up.id}`)).status).toBe(404);
      expect(await keysUnder(`uploads/${up.id}/`)).toEqual([]);
    });
  });
});
