// Refusal changes nothing: whole-file uploads, the jobs API (inputs, conversions, PATCH, create),
// authentication, JSON bodies and the per-key limits. Each refused request is checked against a
// snapshot of everything stored (rows, S3 objects and multipart uploads, Redis slots, locks and
// counters, queued work) taken before it; see refusals-chunks.e2e-spec.ts for the audit of every
// 4xx path. This stack allows one upload and one event stream at a time per key, so a second one
// is refused while the first is held open.
import { randomBytes } from 'node:crypto';
import { openRequest } from '../test/e2e-helpers/raw-http';
import { KiB, MAX_FILE, MiB, pieces, useRefusalStack } from '../test/e2e-helpers/refusals';
import { json, waitFor } from '../test/stack';

jest.setTimeout(180_000);

/** A multipart/form-data body with one part, written by hand (a name with a path, a text field…). */
function formBody(boundary: string, disposition: string, bytes: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; ${disposition}\r\n`),
    Buffer.from('Content-Type: application/octet-stream\r\n\r\n'),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}

describe('refused whole-file uploads and job requests leave nothing stored (real processes)', () => {
  const r = useRefusalStack({ KILN_MAX_CONCURRENT_UPLOADS_PER_KEY: '1', KILN_MAX_EVENT_STREAMS_PER_KEY: '1' });
  const { stack, refused, jsonPost } = r;
  let job: { id: string; token: string; input: { id: string }[] };
  let locked: { id: string; token: string };
  const upload = (jobId: string, init: RequestInit & { key?: string | null } = {}) =>
    stack.api(`/v1/jobs/${jobId}/upload`, { method: 'POST', ...init });

  beforeAll(async () => {
    // An open job with one upload input waiting for its file, and a job that is processing.
    job = await r.job({ input: [{ type: 'upload', filename: 'waiting.mov' }] });
    locked = await r.lockedJob();
  });

  describe('whole-file upload (POST /v1/jobs/{id}/upload)', () => {
    it('a Content-Length over the limit → 413; no X-File-Name, or one with a path → 400', async () => {
      await refused({ status: 413, code: 'payload_too_large', field: 'Content-Length' }, () =>
        upload(job.id, { headers: { 'X-File-Name': 'big.bin' }, body: randomBytes(MAX_FILE + 1) }),
      );
      await refused({ status: 400, code: 'invalid_input', field: 'X-File-Name' }, () =>
        upload(job.id, { body: randomBytes(KiB) }),
      );
      await refused({ status: 400, code: 'invalid_input', field: 'X-File-Name' }, () =>
        upload(job.id, { headers: { 'X-File-Name': '../etc/passwd' }, body: randomBytes(KiB) }),
      );
    });

    it('a body over the limit streamed without Content-Length → 413 once the limit is passed', async () => {
      // Into the job's waiting input (claimed, then given back) and into a new one (removed again).
      const open = await r.job();
      for (const id of [job.id, open.id]) {
        await refused({ status: 413, code: 'payload_too_large' }, () =>
          r.streamed(`/v1/jobs/${id}/upload`, 'POST', { 'X-File-Name': 'big.bin' }, pieces(17, MiB + 1)),
        );
      }
    });

    it('multipart: a file over the limit → 413; no boundary, no file field, a name with a path → 400', async () => {
      const open = await r.job();
      const form = (body: Buffer, boundary = 'kiln-boundary') =>
        upload(open.id, { headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` }, body });
      await refused({ status: 413, code: 'payload_too_large' }, () =>
        form(formBody('kiln-boundary', 'name="file"; filename="big.bin"', randomBytes(MAX_FILE + KiB))),
      );
      await refused({ status: 400, code: 'invalid_input', field: 'Content-Type' }, () =>
        upload(open.id, { headers: { 'Content-Type': 'multipart/form-data' }, body: randomBytes(KiB) }),
      );
      await refused({ status: 400, code: 'invalid_input', field: 'file' }, () =>
        form(formBody('kiln-boundary', 'name="note"', Buffer.from('no file here'))),
      );
      await refused({ status: 400, code: 'invalid_input', field: 'file.filename' }, () =>
        form(formBody('kiln-boundary', 'name="file"; filename="../../x.png"', randomBytes(KiB))),
      );
    });

    it('without credentials, with another key, with another job’s token, into a processing job → 401, 404, 403, 409', async () => {
      const file = { headers: { 'X-File-Name': 'a.png' }, body: randomBytes(KiB) };
      await refused({ status: 401, code: 'unauthorized' }, () => upload(job.id, { ...file, key: null }));
      await refused({ status: 404, code: 'not_found' }, () => upload(job.id, { ...file, key: stack.otherKey }));
      await refused({ status: 403, code: 'forbidden' }, () =>
        upload(job.id, { ...file, key: null, headers: { ...file.headers, 'X-Job-Token': locked.token } }),
      );
      await refused({ status: 409, code: 'job_locked' }, () => upload(locked.id, file));
    });

    it('a second upload while the key’s only upload slot is held → 429, the held slot as it was', async () => {
      const held = openRequest(`${stack.url}/v1/jobs/${job.id}/upload`, 'POST', {
        'X-Api-Key': stack.apiKey,
        'X-File-Name': 'slow.bin',
        'Content-Length': String(2 * MiB),
      });
      held.req.write(randomBytes(MiB));
      const slots = `${r.probe.prefix}:limits:uploads:`;
      await waitFor('the held upload’s slot', async () => {
        const keys = await r.probe.redis.keys(`${slots}*`);
        return keys.length === 1 && (await r.probe.redis.zcard(keys[0])) === 1;
      });
      await refused({ status: 429, code: 'rate_limited' }, () =>
        upload(job.id, { headers: { 'X-File-Name': 'b.bin' }, body: randomBytes(KiB) }),
      );
      held.req.end(randomBytes(MiB));
      expect((await held.answer).status).toBe(201);
    });
  });

  describe('jobs API', () => {
    it('a conversion or an input for a processing job → 409 job_locked; of another key → 404', async () => {
      await refused({ status: 409, code: 'job_locked' }, () =>
        jsonPost(`/v1/jobs/${locked.id}/conversions`, { target: 'png' }),
      );
      await refused({ status: 409, code: 'job_locked' }, () =>
        jsonPost(`/v1/jobs/${locked.id}/input`, { type: 'upload', filename: 'more.png' }),
      );
      await refused({ status: 404, code: 'not_found' }, () =>
        jsonPost(`/v1/jobs/${locked.id}/conversions`, { target: 'png' }, { key: stack.otherKey }),
      );
    });

    it('an unknown target, a file over the limit, too many units → 400, 413, 400', async () => {
      const open = await r.job();
      await refused({ status: 400, code: 'invalid_input', field: 'target' }, () =>
        jsonPost(`/v1/jobs/${open.id}/conversions`, { target: 'nope' }),
      );
      await refused({ status: 413, code: 'payload_too_large', field: 'size' }, () =>
        jsonPost(`/v1/jobs/${open.id}/input`, { type: 'upload', size: MAX_FILE + 1 }),
      );
      await refused({ status: 400, code: 'invalid_input', field: 'conversion' }, () =>
        jsonPost('/v1/jobs', { conversion: Array.from({ length: 101 }, () => ({ target: 'png' })) }),
      );
      await refused({ status: 400, code: 'invalid_input', field: 'conversion.0.target' }, () =>
        jsonPost('/v1/jobs', { conversion: [{ target: 'nope' }] }),
      );
    });

    it('an upload_id of another key or already attached → 404, 409 (the job or input is not created)', async () => {
      const theirs = await json(jsonPost('/v1/uploads', { filename: 't.bin', size: 10 }, { key: stack.otherKey }));
      const attached = await json(jsonPost('/v1/uploads', { filename: 'm.bin', size: 10 }));
      expect((await jsonPost('/v1/jobs', { input: [{ type: 'upload', upload_id: attached.id }] })).status).toBe(201);
      const open = await r.job();
      for (const [status, code, id] of [
        [404, 'not_found', theirs.id],
        [409, 'conflict', attached.id],
      ] as const) {
        await refused({ status, code, field: 'upload_id' }, () =>
          jsonPost('/v1/jobs', { conversion: [{ target: 'png' }], input: [{ type: 'upload', upload_id: id }] }),
        );
        await refused({ status, code, field: 'upload_id' }, () =>
          jsonPost(`/v1/jobs/${open.id}/input`, { type: 'upload', upload_id: id }),
        );
      }
    });

    it('PATCH with a bad body, to process without input, of an ended job → 400, 409, 409', async () => {
      const bare = await json(jsonPost('/v1/jobs', { process: false }));
      const patch = (id: string, body: unknown) =>
        stack.api(`/v1/jobs/${id}`, {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
      await refused({ status: 400, code: 'invalid_input', field: 'process' }, () => patch(bare.id, { process: 'yes' }));
      await refused({ status: 409, code: 'conflict', field: 'input' }, () => patch(bare.id, { process: true }));
      const ended = await r.job();
      expect((await stack.api(`/v1/jobs/${ended.id}`, { method: 'DELETE' })).status).toBe(200);
      await waitFor(
        'the cancel to end',
        async () => (await json(stack.api(`/v1/jobs/${ended.id}`))).status.code === 'canceled',
      );
      await refused({ status: 409, code: 'conflict', message: /ended/ }, () => patch(ended.id, { tag: 'late' }));
    });

    it('a wrong key, a malformed Authorization, a body that is not JSON, a JSON body over its limit → 401, 401, 415, 400, 413', async () => {
      await refused({ status: 401, code: 'unauthorized' }, () => jsonPost('/v1/jobs', {}, { key: 'kiln_wrong' }));
      await refused({ status: 401, code: 'unauthorized' }, () =>
        jsonPost('/v1/jobs', {}, { key: null, headers: { Authorization: 'Basic abc' } }),
      );
      await refused({ status: 415, code: 'unsupported_media_type' }, () =>
        stack.api('/v1/jobs', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{}' }),
      );
      await refused({ status: 400, code: 'invalid_input', field: 'body' }, () =>
        stack.api('/v1/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"process":' }),
      );
      await refused({ status: 413, code: 'payload_too_large' }, () =>
        jsonPost('/v1/jobs', { conversion: [{ target: 'png' }], tag: 'x'.repeat(300 * KiB) }),
      );
    });

    it('a second event stream while the key’s only one is open → 429, the open stream’s slot as it was', async () => {
      const first = new AbortController();
      const open = await stack.api(`/v1/jobs/${job.id}/events`, { signal: first.signal });
      expect(open.status).toBe(200);
      await refused({ status: 429, code: 'rate_limited' }, () => stack.api(`/v1/jobs/${job.id}/events`));
      first.abort();
      const streams = `${r.probe.prefix}:limits:streams:*`;
      await waitFor('the stream’s slot given back', async () => {
        const keys = await r.probe.redis.keys(streams);
        return keys.length === 0 || (await r.probe.redis.zcard(keys[0])) === 0;
      });
    });
  });
});
