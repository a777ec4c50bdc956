// S3 unavailable in the middle of work, with the apps as real processes reaching radosgw through a
// fault proxy (test/s3-fault-proxy.ts) that answers 503 with Retry-After, or drops connections:
// - during a chunk upload: the gateway answers 503 `unavailable` with Retry-After, records nothing,
//   and the same chunk sent again once S3 is back is stored; the file assembles to the same sha256;
// - during assembly (CompleteMultipartUpload, UploadPartCopy): the assemble job is retried and the
//   job completes once; past every attempt the upload is not failed, and the reconciler assembles it
//   once S3 is back;
// - during the converter's output write: the unit is retried, and the job ends with one output
//   object and one delivered callback.
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { makeAudio } from '../libs/media/src/testing';
import { logLines } from '../test/e2e-helpers/app-logs';
import { jobEnded, submitJob } from '../test/e2e-helpers/jobs';
import { MiB, useS3OutageStack } from '../test/e2e-helpers/s3-outage';
import { makeRandomFile } from '../test/files';
import { s3Ops } from '../test/s3-fault-proxy';
import { json, waitFor } from '../test/stack';

const b64 = (v: string) => Buffer.from(v).toString('base64');
const TUS = { 'Tus-Resumable': '1.0.0' };

jest.setTimeout(300_000);

describe('S3 unavailable mid-work (fault proxy in front of radosgw)', () => {
  const s = useS3OutageStack();
  const { proxy, stack } = s;

  afterEach(() => proxy.pass());

  /** A 503 `unavailable` JSON answer with Retry-After. */
  async function expectUnavailable(res: Response, what: string) {
    const body = await res.text();
    expect({ what, status: res.status }).toEqual({ what, status: 503 });
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(JSON.parse(body).error.code).toBe('unavailable');
  }

  it('chunk upload: 503 unavailable with Retry-After, nothing recorded; the same chunks later complete the file', async () => {
    const size = 6 * MiB;
    const file = s.file('chunks.bin');
    const sha = await makeRandomFile(file, size);
    // A: a 5 MiB multipart part (the first one also starts the multipart upload); B: a small
    // chunk stored as its own object; C: the file's last chunk, a part.
    const A = { start: 0, end: 5 * MiB - 1 };
    const B = { start: 5 * MiB, end: 5.5 * MiB - 1 };
    const C = { start: 5.5 * MiB, end: size - 1 };
    const session = await json(s.jsonPost('/v1/uploads', { filename: 'chunks.bin', size, checksum_sha256: sha }));
    const view = async () => {
      const v = await json(stack.api(`/v1/uploads/${session.id}`));
      return { received: v.received, received_bytes: v.received_bytes, status: v.status };
    };

    // S3 down before the first chunk: starting the multipart upload fails.
    proxy.unavailable();
    await expectUnavailable(await s.putChunk(session.id, file, A, size), 'first part, CreateMultipartUpload refused');
    expect(proxy.faulted((r) => s3Ops.createMultipart(r)).length).toBeGreaterThan(0);
    expect(await s.chunkRows(session.id)).toEqual([]);
    expect(await view()).toEqual({ received: [], received_bytes: 0, status: 'uploading' });

    proxy.pass();
    expect((await s.putChunk(session.id, file, A, size)).status).toBe(202);
    const afterA = await view();
    expect(afterA).toEqual({ received: [[A.start, A.end]], received_bytes: 5 * MiB, status: 'uploading' });

    // S3 down again: a chunk object (PutObject) and a part (UploadPart) are both refused.
    proxy.unavailable({ retryAfterS: 2 });
    const before = proxy.faulted().length;
    await expectUnavailable(await s.putChunk(session.id, file, B, size), 'chunk object, PutObject refused');
    await expectUnavailable(await s.putChunk(session.id, file, C, size), 'last part, UploadPart refused');
    const refused = proxy.faulted().slice(before);
    expect(refused.some((r) => s3Ops.putObject(r) && r.key.startsWith(`chunks/${session.id}/`))).toBe(true);
    expect(refused.some((r) => s3Ops.uploadPart(r) && r.key.startsWith(`uploads/${session.id}/`))).toBe(true);
    // A connection dropped mid-body is the same outage.
    proxy.pass();
    proxy.fail({ action: 'drop', methods: ['PUT'] });
    await expectUnavailable(await s.putChunk(session.id, file, B, size), 'chunk object, connection dropped');
    expect(await s.chunkRows(session.id)).toEqual([`${A.start}-${A.end}`]);
    expect(await view()).toEqual(afterA);
    expect(await s.keysUnder(`chunks/${session.id}/`)).toEqual([]);

    // S3 back: the same chunks are taken, and the last one completes the file.
    proxy.pass();
    expect((await s.putChunk(session.id, file, B, size)).status).toBe(202);
    expect((await s.putChunk(session.id, file, C, size)).status).toBe(201);
    expect(await s.chunkRows(session.id)).toEqual([A, B, C].map((r) => `${r.start}-${r.end}`));
    const done = await s.assembledUpload(session.id);
    expect(done).toMatchObject({ status: 'complete', received: [[0, size - 1]], received_bytes: size });
    const keys = await s.keysUnder(`uploads/${session.id}/`);
    expect(keys).toHaveLength(1);
    expect(await s.sha256Of(keys[0])).toBe(sha);
  });

  it('tus PATCH: 503 unavailable with Retry-After, the offset unchanged; the same PATCH later completes the file', async () => {
    const bytes = randomBytes(3 * MiB);
    const sha = createHash('sha256').update(bytes).digest('hex');
    const created = await stack.api('/v1/tus/', {
      method: 'POST',
      headers: { ...TUS, 'Upload-Length': String(bytes.length), 'Upload-Metadata': `filename ${b64('tus.bin')}` },
    });
    expect(created.status).toBe(201);
    const location = new URL(created.headers.get('location')!).pathname;
    const id = location.split('/').pop()!;
    const patch = (offset: number) =>
      stack.api(location, {
        method: 'PATCH',
        headers: { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset) },
        body: bytes.subarray(offset),
      });
    const offset = async () =>
      Number((await stack.api(location, { method: 'HEAD', headers: TUS })).headers.get('upload-offset'));

    proxy.unavailable({ methods: ['PUT'] });
    await expectUnavailable(await patch(0), 'tus PATCH, chunk object refused');
    expect(await offset()).toBe(0);
    expect(await s.chunkRows(id)).toEqual([]);
    expect(await s.keysUnder(`chunks/${id}/`)).toEqual([]);

    proxy.pass();
    const done = await patch(0);
    expect(done.status).toBe(204);
    expect(done.headers.get('upload-offset')).toBe(String(bytes.length));
    await s.assembledUpload(id);
    const keys = await s.keysUnder(`uploads/${id}/`);
    expect(keys).toHaveLength(1);
    expect(await s.sha256Of(keys[0])).toBe(sha);
  });

  /** A WAV of a little over 12 MiB (assembled from two chunks of at least 5 MiB) and its bytes. */
  async function bigWav(name: string) {
    const file = await makeAudio({ path: s.file(name), seconds: 72, format: 'wav' });
    const bytes = await readFile(file);
    expect(bytes.length).toBeGreaterThan(12 * MiB);
    return { file, bytes, size: bytes.length, sha: createHash('sha256').update(bytes).digest('hex') };
  }

  /** The job ended completed once: one output, one callback (job.completed) delivered and POSTed. */
  async function expectCompletedOnce(jobId: string) {
    const job = await jobEnded(stack, jobId, 180_000);
    expect({ status: job.status.code, errors: job.errors, outputs: job.output.length }).toEqual({
      status: 'completed',
      errors: [],
      outputs: 1,
    });
    const d = await s.deliveries(jobId);
    expect(d.delivered.map((r) => r.event)).toEqual(['job.completed']);
    expect(d.posts.map((p) => p.headers['x-kiln-event'])).toEqual(['job.completed']);
    expect(await s.keysUnder(`outputs/${jobId}/`)).toHaveLength(1);
    return job;
  }

  it('assembly: CompleteMultipartUpload answered 503 → the assemble job is retried, the job completes once', async () => {
    const wav = await bigWav('parts.wav');
    const job = await s.createJob('mp3');
    const session = await json(
      s.jsonPost('/v1/uploads', { filename: 'parts.wav', size: wav.size, job_id: job.id, checksum_sha256: wav.sha }),
    );
    proxy.unavailable({ match: (r) => s3Ops.completeMultipart(r) && r.key.startsWith(`uploads/${session.id}/`) });
    // Two chunks of at least 5 MiB: two multipart parts, assembled by completing the upload.
    const half = 6 * MiB;
    expect((await s.putChunk(session.id, wav.file, { start: 0, end: half - 1 }, wav.size)).status).toBe(202);
    expect((await s.putChunk(session.id, wav.file, { start: half, end: wav.size - 1 }, wav.size)).status).toBe(201);
    await s.untilAttemptFailed('assemble', 'uploadId', session.id);
    expect(proxy.faulted((r) => s3Ops.completeMultipart(r)).length).toBeGreaterThan(0);
    expect((await json(stack.api(`/v1/uploads/${session.id}`))).assembled).toBeFalsy();
    proxy.pass();

    await expectCompletedOnce(job.id);
    const attempts = s.attempts('assemble', 'uploadId', session.id);
    expect(attempts.failed.length).toBeGreaterThanOrEqual(1);
    expect(attempts.handled.map((l) => l.outcome)).toEqual(['success']);
    const input = (await json(stack.api(`/v1/jobs/${job.id}/input`)))[0];
    const inputKeys = await s.keysUnder(`uploads/${session.id}/`);
    expect(inputKeys).toHaveLength(1);
    expect(await s.sha256Of(inputKeys[0])).toBe(wav.sha);
    expect(input).toMatchObject({ status: 'ready', size: wav.size });
  });

  it('assembly: S3 unavailable past every attempt → the upload waits (not failed), the reconciler assembles it once S3 is back', async () => {
    const wav = await readFile(await makeAudio({ path: s.file('long-outage.wav'), seconds: 3, format: 'wav' }));
    const job = await s.createJob('mp3');
    const session = await json(s.jsonPost('/v1/uploads', { filename: 'long.wav', size: wav.length, job_id: job.id }));
    proxy.unavailable({ match: (r) => s3Ops.completeMultipart(r) && r.key.startsWith(`uploads/${session.id}/`) });
    const put = await stack.api(`/v1/uploads/${session.id}`, {
      method: 'PUT',
      headers: { 'Content-Range': `bytes 0-${wav.length - 1}/${wav.length}` },
      body: wav,
    });
    expect(put.status).toBe(201);

    // Every attempt the assemble queue allows (5) fails; the outage is not blamed on the file.
    await waitFor(
      'the assembly attempts to run out',
      async () => s.attempts('assemble', 'uploadId', session.id).failed.length >= 5,
      60_000,
      200,
    );
    expect(await json(stack.api(`/v1/uploads/${session.id}`))).toMatchObject({ status: 'complete', assembled: false });
    expect((await json(stack.api(`/v1/jobs/${job.id}`))).status.code).toBe('downloading');
    proxy.pass();

    await expectCompletedOnce(job.id);
    const attempts = s.attempts('assemble', 'uploadId', session.id);
    expect(attempts.handled.map((l) => l.outcome)).toEqual(['success']);
    const redriven = logLines(stack.apps.find((a) => a.app === 'assembler')!).filter(
      (l) => l.msg === 'reconciler re-drove lost work' && Number((l as Record<string, unknown>).assembly) > 0,
    );
    expect(redriven.length).toBeGreaterThan(0);
    const keys = await s.keysUnder(`uploads/${session.id}/`);
    expect(keys).toHaveLength(1);
    expect(await s.sha256Of(keys[0])).toBe(createHash('sha256').update(wav).digest('hex'));
  });

  it('assembly: UploadPartCopy answered 503 during a server-side compose → retried, the job completes once', async () => {
    const wav = await bigWav('compose.wav');
    const job = await s.createJob('mp3');
    // A tus PATCH with Upload-Checksum is stored as chunk objects of at most 8 MiB (without one, as
    // multipart parts): two objects, composed server-side.
    const created = await stack.api('/v1/tus/', {
      method: 'POST',
      headers: {
        ...TUS,
        'Upload-Length': String(wav.size),
        'Upload-Metadata': `filename ${b64('compose.wav')},job_id ${b64(job.id)}`,
      },
    });
    expect(created.status).toBe(201);
    const uploadId = created.headers.get('location')!.split('/').pop()!;
    proxy.unavailable({ match: (r) => s3Ops.uploadPart(r) && r.key.startsWith(`inputs/${job.id}/`) });
    const patched = await stack.api(`/v1/tus/${uploadId}`, {
      method: 'PATCH',
      headers: {
        ...TUS,
        'Content-Type': 'application/offset+octet-stream',
        'Upload-Offset': '0',
        'Upload-Checksum': `sha256 ${Buffer.from(wav.sha, 'hex').toString('base64')}`,
      },
      body: wav.bytes,
    });
    expect(patched.status).toBe(204);
    expect(await s.chunkRows(uploadId)).toHaveLength(2);
    await s.untilAttemptFailed('assemble', 'uploadId', uploadId);
    expect(proxy.faulted((r) => s3Ops.uploadPart(r)).length).toBeGreaterThan(0);
    proxy.pass();

    await expectCompletedOnce(job.id);
    const attempts = s.attempts('assemble', 'uploadId', uploadId);
    expect(attempts.failed.length).toBeGreaterThanOrEqual(1);
    expect(attempts.handled.map((l) => l.outcome)).toEqual(['success']);
    const inputKeys = await s.keysUnder(`inputs/${job.id}/`);
    expect(inputKeys).toHaveLength(1);
    expect(await s.sha256Of(inputKeys[0])).toBe(wav.sha);
    // The failed compose left no multipart upload behind, and the chunk objects are gone.
    expect(await s.store.abortStaleUploads(new Date(Date.now() + 60_000))).toBe(0);
    await waitFor('chunk cleanup', async () => (await s.keysUnder(`chunks/${uploadId}/`)).length === 0);
  });

  it('output write: PutObject answered 503 → the unit is retried; one output object, one delivered callback', async () => {
    const wav = await readFile(await makeAudio({ path: s.file('short.wav'), seconds: 3, format: 'wav' }));
    proxy.unavailable({ match: (r) => s3Ops.putObject(r) && r.key.startsWith('outputs/') });
    const jobId = await submitJob(stack, wav, 'short.wav', { target: 'mp3' }, s.receiver.url);
    await s.untilAttemptFailed('convert', 'jobId', jobId);
    const refused = proxy.faulted((r) => s3Ops.putObject(r) && r.key.startsWith(`outputs/${jobId}/`));
    expect(refused.length).toBeGreaterThan(0);
    expect(await s.keysUnder(`outputs/${jobId}/`)).toEqual([]);
    proxy.pass();

    const job = await expectCompletedOnce(jobId);
    const attempts = s.attempts('convert', 'jobId', jobId);
    expect(attempts.failed.length).toBeGreaterThanOrEqual(1);
    expect(attempts.handled.map((l) => l.outcome)).toEqual(['success']);
    // The one object is the one the output row names, written by a later attempt than the refused one.
    const [key] = await s.keysUnder(`outputs/${jobId}/`);
    const { rows } = await s.db.query('SELECT object_key, attempt FROM outputs WHERE job_id = $1', [jobId]);
    expect(rows).toEqual([{ object_key: key, attempt: expect.any(Number) }]);
    expect(refused.every((r) => r.key !== key)).toBe(true);
    expect(rows[0].attempt).toBeGreaterThan(1);
    expect(job.output[0].size).toBe((await s.store.stat(key))?.size);
  });
});
