// Refusal changes nothing: the tus 1.0 endpoint (/v1/tus). Each refused creation, PATCH or DELETE
// is checked against a snapshot of everything stored (rows, S3 objects and multipart uploads, Redis
// slots, locks and counters, queued work) taken before it; see refusals-chunks.e2e-spec.ts for the
// audit of every 4xx path. PATCH bodies are cut into chunk objects of KILN_CHUNK_SIZE_MAX (1 MiB
// here), so a body refused mid-stream has stored whole segments before it is refused.
import { randomBytes } from 'node:crypto';
import { openRequest } from '../test/e2e-helpers/raw-http';
import { KiB, MAX_FILE, MiB, pieces, useRefusalStack } from '../test/e2e-helpers/refusals';
import { OFFSET_STREAM, TUS, digest, idOf, metadata } from '../test/e2e-helpers/tus';
import { waitFor } from '../test/stack';

jest.setTimeout(180_000);

/** Open uploads each key may have (the other key fills its share to refuse a creation). */
const OPEN_UPLOADS = 5;

describe('refused tus requests leave nothing stored (real processes)', () => {
  const r = useRefusalStack({ KILN_CHUNK_SIZE_MAX: String(MiB), KILN_MAX_OPEN_UPLOADS_PER_KEY: String(OPEN_UPLOADS) });
  const { stack, refused } = r;
  /** 3 MiB declared, the first MiB stored: PATCHes go at offset 1 MiB with 2 MiB of room. */
  let upload = '';

  const create = (headers: Record<string, string>, key?: string | null) =>
    stack.api('/v1/tus/', { method: 'POST', key, headers: { ...TUS, ...headers } });
  const location = async (headers: Record<string, string>) => {
    const res = await create(headers);
    expect(res.status).toBe(201);
    return new URL(res.headers.get('location')!).pathname;
  };
  const patch = (
    path: string,
    offset: number,
    body: Buffer,
    headers: Record<string, string> = {},
    key?: string | null,
  ) =>
    stack.api(path, {
      method: 'PATCH',
      key,
      headers: { ...TUS, 'Content-Type': OFFSET_STREAM, 'Upload-Offset': String(offset), ...headers },
      body,
    });

  beforeAll(async () => {
    upload = await location({ 'Upload-Length': String(3 * MiB), 'Upload-Metadata': metadata({ filename: 'a.bin' }) });
    expect((await patch(upload, 0, randomBytes(MiB))).status).toBe(204);
  });

  describe('PATCH', () => {
    it('a wrong offset → 409; a wrong content type → 415; no Tus-Resumable → 412', async () => {
      await refused({ status: 409, code: 'conflict', field: 'Upload-Offset' }, () =>
        patch(upload, 0, randomBytes(KiB)),
      );
      await refused({ status: 415, code: 'unsupported_media_type', field: 'Content-Type' }, () =>
        patch(upload, MiB, randomBytes(KiB), { 'Content-Type': 'application/octet-stream' }),
      );
      await refused({ status: 412, code: 'invalid_input', field: 'Tus-Resumable' }, () =>
        stack.api(upload, {
          method: 'PATCH',
          headers: { 'Content-Type': OFFSET_STREAM, 'Upload-Offset': String(MiB) },
          body: randomBytes(KiB),
        }),
      );
    });

    it('a Content-Length over the Upload-Length → 413; another Upload-Length → 400', async () => {
      await refused({ status: 413, code: 'payload_too_large', field: 'Content-Length' }, () =>
        patch(upload, MiB, randomBytes(2 * MiB + 1)),
      );
      await refused({ status: 400, code: 'invalid_input', field: 'Upload-Length' }, () =>
        patch(upload, MiB, randomBytes(KiB), { 'Upload-Length': String(4 * MiB) }),
      );
    });

    it('a body over the Upload-Length, streamed without Content-Length → 413, the segments it stored removed', async () => {
      // 2 MiB of room: two whole segments arrive (the second would complete the file) before the
      // excess; then one whole segment and part of the next.
      await refused({ status: 413, code: 'payload_too_large' }, () =>
        r.streamed(
          upload,
          'PATCH',
          { ...TUS, 'Content-Type': OFFSET_STREAM, 'Upload-Offset': String(MiB) },
          pieces(12, 256 * KiB),
        ),
      );
      await refused({ status: 413, code: 'payload_too_large' }, () =>
        r.streamed(
          upload,
          'PATCH',
          { ...TUS, 'Content-Type': OFFSET_STREAM, 'Upload-Offset': String(MiB) },
          pieces(9, 256 * KiB),
        ),
      );
    });

    it('bytes that do not match Upload-Checksum → 460', async () => {
      const bytes = randomBytes(1536 * KiB);
      await refused({ status: 460, code: 'unprocessable', field: 'Upload-Checksum' }, () =>
        patch(upload, MiB, bytes, { 'Upload-Checksum': `sha256 ${digest('sha256', randomBytes(8))}` }),
      );
    });

    it('a deferred length declared by a PATCH that is refused stays undeclared (460, 413)', async () => {
      const deferred = await location({ 'Upload-Defer-Length': '1' });
      const bytes = randomBytes(1536 * KiB);
      await refused({ status: 460, code: 'unprocessable' }, () =>
        patch(deferred, 0, bytes, {
          'Upload-Length': String(bytes.length),
          'Upload-Checksum': `sha1 ${digest('sha1', randomBytes(8))}`,
        }),
      );
      await refused({ status: 413, code: 'payload_too_large', field: 'Content-Length' }, () =>
        patch(deferred, 0, bytes, { 'Upload-Length': String(MiB) }),
      );
      await refused({ status: 413, code: 'payload_too_large', field: 'Upload-Length' }, () =>
        patch(deferred, 0, bytes, { 'Upload-Length': String(MAX_FILE + 1) }),
      );
      await refused({ status: 413, code: 'payload_too_large' }, () =>
        r.streamed(
          deferred,
          'PATCH',
          { ...TUS, 'Content-Type': OFFSET_STREAM, 'Upload-Offset': '0', 'Upload-Length': String(2 * MiB) },
          pieces(10, 256 * KiB),
        ),
      );
      const head = await stack.api(deferred, { method: 'HEAD', headers: TUS });
      expect(head.headers.get('upload-defer-length')).toBe('1');
      expect(head.headers.get('upload-offset')).toBe('0');
    });

    it('while another PATCH holds the upload → 423, the holder’s lock and slot as they were', async () => {
      const held = openRequest(`${stack.url}${upload}`, 'PATCH', {
        ...TUS,
        'X-Api-Key': stack.apiKey,
        'Content-Type': OFFSET_STREAM,
        'Upload-Offset': String(MiB),
        'Content-Length': String(512 * KiB),
      });
      held.req.write(randomBytes(100 * KiB));
      const lock = `${r.probe.prefix}:tus:lock:${idOf(upload)}`;
      await waitFor('the first PATCH to hold the lock', async () => (await r.probe.redis.exists(lock)) === 1);
      await refused({ status: 423, code: 'conflict' }, () => patch(upload, MiB, randomBytes(KiB)));
      held.req.end(randomBytes(412 * KiB));
      expect((await held.answer).status).toBe(204);
      expect(await r.probe.redis.exists(lock)).toBe(0);
    });

    it('without credentials, with another key, with another job’s token → 401, 404, 403', async () => {
      const job = await r.job();
      const other = await r.job();
      const bound = await location({ 'Upload-Length': String(MiB), 'Upload-Metadata': metadata({ job_id: job.id }) });
      await refused({ status: 401, code: 'unauthorized' }, () => patch(bound, 0, randomBytes(KiB), {}, null));
      await refused({ status: 404, code: 'not_found' }, () => patch(bound, 0, randomBytes(KiB), {}, stack.otherKey));
      await refused({ status: 403, code: 'forbidden' }, () =>
        patch(bound, 0, randomBytes(KiB), { 'X-Job-Token': other.token }, null),
      );
    });

    it('a PATCH of an expired upload → 410; a DELETE by another key → 404', async () => {
      const old = await location({ 'Upload-Length': String(MiB) });
      await r.probe.query(`UPDATE uploads SET expires_at = now() - interval '1 minute' WHERE id = $1`, [idOf(old)]);
      await refused({ status: 410, code: 'not_found', message: /expired/ }, () => patch(old, 0, randomBytes(KiB)));
      await refused({ status: 404, code: 'not_found' }, () =>
        stack.api(upload, { method: 'DELETE', key: stack.otherKey, headers: TUS }),
      );
    });

    it('a PATCH into a job that started processing meanwhile → 409 job_locked', async () => {
      const job = await r.job({ process: true });
      const late = await location({ 'Upload-Length': String(MiB), 'Upload-Metadata': metadata({ job_id: job.id }) });
      const first = await stack.api(`/v1/jobs/${job.id}/upload`, {
        method: 'POST',
        headers: { 'X-File-Name': 'first.png' },
        body: randomBytes(1000),
      });
      expect(first.status).toBe(201);
      await refused({ status: 409, code: 'job_locked' }, () => patch(late, 0, randomBytes(KiB)));
    });
  });

  describe('creation (POST) and termination (DELETE)', () => {
    it('an Upload-Length over the limit → 413; no length → 400; bad metadata → 400', async () => {
      await refused({ status: 413, code: 'payload_too_large', field: 'Upload-Length' }, () =>
        create({ 'Upload-Length': String(MAX_FILE + 1) }),
      );
      await refused({ status: 400, code: 'invalid_input', field: 'Upload-Length' }, () => create({}));
      await refused({ status: 400, code: 'invalid_input', field: 'Upload-Metadata.target' }, () =>
        create({ 'Upload-Length': '10', 'Upload-Metadata': metadata({ target: 'nope' }) }),
      );
    });

    it('into a job that is processing, or of another key → 409, 404; a job token asking for a new job → 403', async () => {
      const locked = await r.lockedJob();
      const into = { 'Upload-Length': '10', 'Upload-Metadata': metadata({ job_id: locked.id }) };
      await refused({ status: 409, code: 'job_locked' }, () => create(into));
      await refused({ status: 404, code: 'not_found' }, () => create(into, stack.otherKey));
      await refused({ status: 403, code: 'forbidden' }, () =>
        stack.api('/v1/tus/', {
          method: 'POST',
          key: null,
          headers: {
            ...TUS,
            'X-Job-Token': locked.token,
            'Upload-Length': '10',
            'Upload-Metadata': metadata({ target: 'png' }),
          },
        }),
      );
    });

    it('over the open-upload limit with a target → 429, and the job made for it is gone', async () => {
      for (let i = 0; i < OPEN_UPLOADS; i++)
        expect((await create({ 'Upload-Length': '10' }, stack.otherKey)).status).toBe(201);
      await refused({ status: 429, code: 'rate_limited' }, () =>
        create(
          { 'Upload-Length': '10', 'Upload-Metadata': metadata({ target: 'png', filename: 'a.jpg' }) },
          stack.otherKey,
        ),
      );
    });

    it('DELETE of a complete upload → 409', async () => {
      const done = await location({ 'Upload-Length': '1000' });
      expect((await patch(done, 0, randomBytes(1000))).status).toBe(204);
      await r.settled(idOf(done));
      await refused({ status: 409, code: 'conflict', message: /complete/ }, () =>
        stack.api(done, { method: 'DELETE', headers: TUS }),
      );
    });
  });
});
