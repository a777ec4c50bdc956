// Refusal changes nothing: upload sessions (POST /v1/uploads, PUT /v1/uploads/{id}, POST
// …/complete, DELETE). Each refused request is checked against a snapshot of everything stored
// (rows, S3 objects and multipart uploads with their parts, Redis slots/locks/counters, queued
// work) taken before it; see refusals-chunks.e2e-spec.ts for the audit of every 4xx path.
import { randomBytes, randomUUID } from 'node:crypto';
import {
  CHUNK_MAX,
  KiB,
  MAX_FILE,
  MiB,
  pieces,
  range,
  sha256Hex,
  useRefusalStack,
  wrongDigest,
} from '../test/e2e-helpers/refusals';
import { json, waitFor } from '../test/stack';

jest.setTimeout(180_000);

describe('refused upload-session requests leave nothing stored (real processes)', () => {
  const r = useRefusalStack();
  const { stack, refused, sessionChunk, jsonPost } = r;
  /** A session with its first 5 MiB stored as multipart part 1; the last 200 KiB missing. */
  const parted = { id: '', size: 5 * MiB + 200 * KiB, first: Buffer.alloc(0) };

  beforeAll(async () => {
    parted.id = (await r.session({ filename: 'parted.bin', size: parted.size })).id;
    parted.first = randomBytes(5 * MiB);
    expect((await sessionChunk(parted.id, range(0, 5 * MiB - 1, parted.size), parted.first)).status).toBe(202);
    expect((await r.probe.snapshot()).multipart).toHaveLength(1);
  });

  describe('POST /v1/uploads', () => {
    it('a bad body, a file over the limit, an expiry in the past → 400, 413, 400', async () => {
      await refused({ status: 400, code: 'invalid_input', field: 'size' }, () =>
        jsonPost('/v1/uploads', { filename: 'a.bin', size: 'big' }),
      );
      await refused({ status: 413, code: 'payload_too_large', field: 'size' }, () =>
        jsonPost('/v1/uploads', { filename: 'a.bin', size: MAX_FILE + 1 }),
      );
      await refused({ status: 400, code: 'invalid_input', field: 'expires_at' }, () =>
        jsonPost('/v1/uploads', { filename: 'a.bin', size: 10, expires_at: 1_000_000 }),
      );
    });

    it('into a job that is processing, of another key, with an input of no job → 409, 404, 400', async () => {
      const locked = await r.lockedJob();
      await refused({ status: 409, code: 'job_locked' }, () =>
        jsonPost('/v1/uploads', { filename: 'a.bin', size: 10, job_id: locked.id }),
      );
      await refused({ status: 404, code: 'not_found' }, () =>
        jsonPost('/v1/uploads', { filename: 'a.bin', size: 10, job_id: locked.id }, { key: stack.otherKey }),
      );
      await refused({ status: 400, code: 'invalid_input', field: 'input_id' }, () =>
        jsonPost('/v1/uploads', { filename: 'a.bin', size: 10, input_id: randomUUID() }),
      );
    });

    it('with another job’s token → 403', async () => {
      const mine = await r.job();
      const other = await r.job();
      await refused({ status: 403, code: 'forbidden' }, () =>
        jsonPost(
          '/v1/uploads',
          { filename: 'a.bin', size: 10, job_id: other.id },
          { key: null, headers: { 'X-Job-Token': mine.token } },
        ),
      );
    });
  });

  describe('PUT /v1/uploads/{id}', () => {
    it.each([
      ['malformed', 'bytes 0-99', /bytes start-end\/total/],
      ['end beyond the total', range(5 * MiB, 6 * MiB, 6 * MiB), /beyond the total/],
      ['a total that is not the file size', range(5 * MiB, 6 * MiB - 1, 6 * MiB), /differs/],
    ])('Content-Range %s → 416', async (_why, header, message) => {
      await refused({ status: 416, code: 'range_not_satisfiable', message }, () =>
        sessionChunk(parted.id, header, randomBytes(MiB)),
      );
    });

    it('other bytes for a stored part, a partial overlap → 409', async () => {
      const changed = Buffer.from(parted.first);
      changed[99] ^= 0x01;
      await refused({ status: 409, code: 'conflict', message: /differ/ }, () =>
        sessionChunk(parted.id, range(0, 5 * MiB - 1, parted.size), changed),
      );
      await refused({ status: 409, code: 'conflict', message: /overlap/ }, () =>
        sessionChunk(parted.id, range(4 * MiB, parted.size - 1, parted.size), randomBytes(parted.size - 4 * MiB)),
      );
    });

    it('a chunk over chunk_size_max → 413', async () => {
      const big = await r.session({ filename: 'big.bin', size: 12 * MiB });
      const length = CHUNK_MAX + KiB;
      await refused({ status: 413, code: 'payload_too_large', message: /chunk_size_max/ }, () =>
        sessionChunk(big.id, range(0, length - 1, 12 * MiB), randomBytes(length)),
      );
    });

    it('the last part with bytes that do not match its digest → 422, no stray part', async () => {
      await refused({ status: 422, code: 'unprocessable' }, () =>
        sessionChunk(parted.id, range(5 * MiB, parted.size - 1, parted.size), randomBytes(200 * KiB), {
          'X-Chunk-Sha256': wrongDigest(),
        }),
      );
    });

    it('the first part of a session, ending short (streamed) → 400, no multipart upload left', async () => {
      const fresh = await r.session({ filename: 'fresh.bin', size: 6 * MiB });
      await refused({ status: 400, code: 'invalid_input', field: 'body' }, () =>
        r.streamed(
          `/v1/uploads/${fresh.id}`,
          'PUT',
          { 'Content-Type': 'application/octet-stream', 'Content-Range': range(0, 5 * MiB - 1, 6 * MiB) },
          pieces(4, MiB),
        ),
      );
    });

    it('without credentials, with another key, with another job’s token → 401, 404, 403', async () => {
      const mine = await r.job();
      const other = await r.job();
      const bound = await r.session({ filename: 'bound.bin', size: MiB, job_id: other.id });
      const whole = range(0, MiB - 1, MiB);
      await refused({ status: 401, code: 'unauthorized' }, () =>
        sessionChunk(bound.id, whole, randomBytes(MiB), {}, null),
      );
      await refused({ status: 404, code: 'not_found' }, () =>
        sessionChunk(bound.id, whole, randomBytes(MiB), {}, stack.otherKey),
      );
      await refused({ status: 403, code: 'forbidden' }, () =>
        sessionChunk(bound.id, whole, randomBytes(MiB), { 'X-Job-Token': mine.token }, null),
      );
    });

    it('a chunk or an abort by another key → 404; a chunk of an expired session → 404', async () => {
      await refused({ status: 404, code: 'not_found' }, () =>
        stack.api(`/v1/uploads/${parted.id}`, { method: 'DELETE', key: stack.otherKey }),
      );
      const old = await r.session({ filename: 'old.bin', size: MiB });
      await r.probe.query(`UPDATE uploads SET expires_at = now() - interval '1 minute' WHERE id = $1`, [old.id]);
      await refused({ status: 404, code: 'not_found', message: /expired/ }, () =>
        sessionChunk(old.id, range(0, MiB - 1, MiB), randomBytes(MiB)),
      );
    });

    it('a chunk for a job that started processing meanwhile → 409 job_locked', async () => {
      const job = await r.job({ process: true });
      const late = await r.session({ filename: 'late.bin', size: MiB, job_id: job.id });
      const up = await stack.api(`/v1/jobs/${job.id}/upload`, {
        method: 'POST',
        headers: { 'X-File-Name': 'first.png' },
        body: randomBytes(1000),
      });
      expect(up.status).toBe(201);
      await refused({ status: 409, code: 'job_locked' }, () =>
        sessionChunk(late.id, range(0, MiB - 1, MiB), randomBytes(MiB)),
      );
    });
  });

  it('POST …/complete with bytes missing → 400 naming the gap; DELETE of a complete upload → 409', async () => {
    await refused({ status: 400, code: 'invalid_input', message: /missing 1 range/, field: 'Content-Range' }, () =>
      stack.api(`/v1/uploads/${parted.id}/complete`, { method: 'POST' }),
    );
    const one = await r.session({ filename: 'one.bin', size: 1000 });
    expect((await sessionChunk(one.id, range(0, 999, 1000), randomBytes(1000))).status).toBe(201);
    await r.settled(one.id);
    await refused({ status: 409, code: 'conflict', message: /complete/ }, () =>
      stack.api(`/v1/uploads/${one.id}`, { method: 'DELETE' }),
    );
  });

  it('a file that does not match its checksum_sha256 fails at completion and leaves no object; completing it again → 409', async () => {
    const before = await r.probe.snapshot();
    const first = randomBytes(5 * MiB);
    const last = randomBytes(300 * KiB);
    const size = first.length + last.length;
    const declared = sha256Hex(Buffer.concat([first, randomBytes(300 * KiB)]));
    const s = await r.session({ filename: 'sum.bin', size, checksum_sha256: declared });
    expect((await sessionChunk(s.id, range(0, first.length - 1, size), first)).status).toBe(202);
    expect((await sessionChunk(s.id, range(first.length, size - 1, size), last)).status).toBe(201);
    const failed = await waitFor('the upload to fail', async () => {
      const u = await json(stack.api(`/v1/uploads/${s.id}`));
      return u.status === 'failed' ? u : undefined;
    });
    expect(failed.error).toMatch(/checksum mismatch/);
    // Nothing of the file is stored: no object, no multipart upload or part of it.
    const after = await r.probe.snapshot();
    expect(after.objects).toEqual(before.objects);
    expect(after.multipart).toEqual(before.multipart);
    await refused({ status: 409, code: 'conflict', message: /failed/ }, () =>
      stack.api(`/v1/uploads/${s.id}/complete`, { method: 'POST' }),
    );
    await refused({ status: 409, code: 'conflict' }, () =>
      sessionChunk(s.id, range(first.length, size - 1, size), randomBytes(last.length)),
    );
  });
});
