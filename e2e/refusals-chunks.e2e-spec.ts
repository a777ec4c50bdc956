// Refusal changes nothing: chunked uploads into a job (POST /v1/jobs/{id}/upload with X-Upload-Id
// and Content-Range). Every refused request here is checked the same way: the stored state is
// snapshotted (every row of every table, every S3 object and in-progress multipart upload with its
// parts, the Redis keys that hold upload slots, locks and counters, the queued work), the request is
// refused with API.md's JSON error, and the state after the answer is the state before it.
//
// The gateway paths that answer 4xx, and what each had written before it refused (audited; the
// tests of each group are in the file named):
// - every route: 401 no or wrong credential, 403 a job token off its job, 429 failed authentications
//   (auth.guard.ts) and 429 rate (rate-limit.guard.ts) — nothing but the counters meant to count
//   them; 415/413/400 JSON bodies (json-body.ts), 408 slow bodies — before any handler.
//   [refusals-jobs]
// - jobs: POST /v1/jobs (400 schema, unknown target, private URL, units; 413 declared size; 429 jobs
//   in flight; 404/409 upload_id), PATCH (400, 404, 409 ended or without input/conversion),
//   POST …/conversions and …/input (400, 404, 409 job_locked, 413, 400 units; 404/409 upload_id) —
//   refused before the write or inside the transaction that writes. [refusals-jobs]
// - whole-file upload: 404/403, 409 job_locked, 413 Content-Length over the limit, 400 X-File-Name
//   before the input is claimed; after the claim 413 over the limit mid-stream (no Content-Length,
//   multipart) and 400 malformed multipart / no file field / bad file name. These left the claimed
//   input behind; now it is given back (a new one deleted) and the object never completes.
//   [refusals-jobs]
// - chunked job upload: 400 X-Upload-Id, 416 Content-Range, 404/403, 409 job_locked, 413 total over
//   the limit, 429/413 admission — before or inside the transaction that opens the upload. After
//   it: 413 over chunk_size_max, 416 under chunk_size_min, 400 Content-Length or digest header,
//   422 digest mismatch, 400 body length. These left the opened upload and its input behind; now
//   the headers are checked before opening, and a first chunk refused later removes its upload.
//   [this file]
// - chunk store (job chunks and PUT /v1/uploads/{id}): 409 overlap (before storing), 409 different
//   bytes for a stored range (hashed, never stored), 416 total, 422 digest mismatch, 400 body
//   length, 409 upload not taking bytes. A chunk with a digest that was a multipart part stayed in
//   S3 as a part nothing could remove, and a part refused after it started the upload's multipart
//   upload left that upload; now a chunk with a digest is an object checked before it is recorded,
//   and a multipart upload a refused part started is aborted. [this file, refusals-sessions]
// - upload sessions: POST /v1/uploads (400, 413, 403, 404, 409 job_locked, 429, 413 quota), PUT (as
//   above, plus 404/403, 409 job_locked), POST …/complete (400 gaps, 409 failed), DELETE (409
//   complete); a checksum that does not match at completion fails the upload and leaves no object.
//   [refusals-sessions]
// - tus: POST (400, 413, 403, 404, 409 job_locked, 429; a job made for `target` is deleted when the
//   upload cannot open), PATCH (415, 400 headers, 404/403/410, 409 job_locked, 429 slot, 423 lock,
//   409 offset, 413 over Upload-Length, 460 checksum), DELETE (409 complete). A PATCH refused with
//   413 mid-stream kept the segments it had recorded, and a refused PATCH kept the Upload-Length it
//   declared; now both are undone. [refusals-tus]
// - key limits: 429 upload slot, 429 event streams — the slot taken is given back. [refusals-jobs]
import { randomBytes } from 'node:crypto';
import {
  CHUNK_MAX,
  CHUNK_MIN,
  KiB,
  MAX_FILE,
  MiB,
  pieces,
  range,
  useRefusalStack,
  wrongDigest,
} from '../test/e2e-helpers/refusals';
import { json } from '../test/stack';

jest.setTimeout(180_000);

describe('refused chunks of a job upload leave nothing stored (real processes)', () => {
  const r = useRefusalStack();
  const { stack, refused, jobChunk } = r;
  let job: { id: string; token: string };
  let otherJob: { id: string; token: string };
  /** An upload of the job with its first 5 MiB stored as multipart part 1; the last 200 KiB missing. */
  const parted = { id: 'parted-1', size: 5 * MiB + 200 * KiB, first: Buffer.alloc(0) };
  /** An upload of the job with its first MiB stored as a chunk object (no multipart upload yet). */
  const small = { id: 'small-1', size: 6 * MiB, first: Buffer.alloc(0) };

  beforeAll(async () => {
    job = await r.job();
    otherJob = await r.job();
    parted.first = randomBytes(5 * MiB);
    expect((await jobChunk(job.id, parted.id, range(0, 5 * MiB - 1, parted.size), parted.first)).status).toBe(202);
    small.first = randomBytes(MiB);
    expect((await jobChunk(job.id, small.id, range(0, MiB - 1, small.size), small.first)).status).toBe(202);
    // What the refusals are checked against: one part in a multipart upload, one chunk object.
    const state = await r.probe.snapshot();
    expect(state.multipart).toHaveLength(1);
    expect(state.multipart[0]).toMatch(/\[1:[0-9a-f]{32}:5242880\]$/);
    expect(state.objects.filter((o) => o.startsWith('chunks/'))).toHaveLength(1);
  });

  describe('the first chunk of a new file', () => {
    it.each([
      ['malformed', 'bytes 0-99', /bytes start-end\/total/],
      ['end beyond the total', range(0, 1000, 1000), /beyond the total/],
      ['an unknown total', 'bytes 0-99/*', /unknown total/],
    ])('Content-Range %s → 416', async (_why, header, message) => {
      await refused({ status: 416, code: 'range_not_satisfiable', message, field: 'Content-Range' }, () =>
        jobChunk(job.id, 'new-range', header, randomBytes(100)),
      );
    });

    it('a file over KILN_MAX_FILE_SIZE → 413', async () => {
      await refused({ status: 413, code: 'payload_too_large', field: 'Content-Range' }, () =>
        jobChunk(job.id, 'new-too-big', range(0, MiB - 1, MAX_FILE + 1), randomBytes(MiB)),
      );
    });

    it('a chunk over chunk_size_max → 413', async () => {
      const length = CHUNK_MAX + MiB;
      await refused({ status: 413, code: 'payload_too_large', message: /chunk_size_max/ }, () =>
        jobChunk(job.id, 'new-big-chunk', range(0, length - 1, 12 * MiB), randomBytes(length)),
      );
    });

    it('a chunk under chunk_size_min that is not the last → 416', async () => {
      await refused({ status: 416, code: 'range_not_satisfiable', message: /chunk_size_min/ }, () =>
        jobChunk(job.id, 'new-tiny-chunk', range(0, CHUNK_MIN - 2, MiB), randomBytes(CHUNK_MIN - 1)),
      );
    });

    it('a malformed X-Upload-Id or digest header → 400', async () => {
      await refused({ status: 400, code: 'invalid_input', field: 'X-Upload-Id' }, () =>
        jobChunk(job.id, 'no spaces/allowed', range(0, 99, 100), randomBytes(100)),
      );
      await refused({ status: 400, code: 'invalid_input', field: 'X-Chunk-Sha256' }, () =>
        jobChunk(job.id, 'new-bad-digest', range(0, 99, 100), randomBytes(100), { 'X-Chunk-Sha256': 'abc' }),
      );
    });

    it('bytes that do not match their digest → 422 (a chunk object, and a chunk that would be a part)', async () => {
      await refused({ status: 422, code: 'unprocessable', field: 'Content-Digest' }, () =>
        jobChunk(job.id, 'new-digest-object', range(0, CHUNK_MIN - 1, MiB), randomBytes(CHUNK_MIN), {
          'X-Chunk-Sha256': wrongDigest(),
        }),
      );
      await refused({ status: 422, code: 'unprocessable', field: 'Content-Digest' }, () =>
        jobChunk(job.id, 'new-digest-part', range(0, 5 * MiB - 1, 6 * MiB), randomBytes(5 * MiB), {
          'X-Chunk-Sha256': wrongDigest(),
        }),
      );
    });

    it('a body that ends before its Content-Range (streamed, no Content-Length) → 400', async () => {
      await refused({ status: 400, code: 'invalid_input', field: 'body' }, () =>
        r.streamed(
          `/v1/jobs/${job.id}/upload`,
          'POST',
          { 'X-Upload-Id': 'new-short-part', 'X-File-Name': 'f.bin', 'Content-Range': range(0, 5 * MiB - 1, 6 * MiB) },
          pieces(3, MiB),
        ),
      );
    });
  });

  describe('a chunk of a file already being uploaded', () => {
    it('other bytes for a stored part, and a range partly over it → 409', async () => {
      const changed = Buffer.from(parted.first);
      changed[4321] ^= 0xff;
      await refused({ status: 409, code: 'conflict', message: /differ/ }, () =>
        jobChunk(job.id, parted.id, range(0, 5 * MiB - 1, parted.size), changed),
      );
      await refused({ status: 409, code: 'conflict', message: /overlap/ }, () =>
        jobChunk(job.id, parted.id, range(MiB, parted.size - 1, parted.size), randomBytes(parted.size - MiB)),
      );
    });

    it('a total that is not the file size → 416', async () => {
      await refused({ status: 416, code: 'range_not_satisfiable', message: /differs/ }, () =>
        jobChunk(job.id, parted.id, range(5 * MiB, 6 * MiB - 1, 6 * MiB), randomBytes(MiB)),
      );
    });

    it('the last chunk (a part) with bytes that do not match its digest → 422, no stray part', async () => {
      const last = randomBytes(200 * KiB);
      await refused({ status: 422, code: 'unprocessable' }, () =>
        jobChunk(job.id, parted.id, range(5 * MiB, parted.size - 1, parted.size), last, {
          'X-Chunk-Sha256': wrongDigest(),
        }),
      );
    });

    it('a part that ends short (streamed) of an upload with no multipart upload yet → 400', async () => {
      await refused({ status: 400, code: 'invalid_input', field: 'body' }, () =>
        r.streamed(
          `/v1/jobs/${job.id}/upload`,
          'POST',
          { 'X-Upload-Id': small.id, 'X-File-Name': 'f.bin', 'Content-Range': range(MiB, small.size - 1, small.size) },
          pieces(2, MiB),
        ),
      );
    });

    it('a chunk of another key, without credentials, or with another job’s token → 404, 401, 403', async () => {
      const chunk = () => randomBytes(200 * KiB);
      const last = range(5 * MiB, parted.size - 1, parted.size);
      await refused({ status: 404, code: 'not_found' }, () =>
        jobChunk(job.id, parted.id, last, chunk(), {}, stack.otherKey),
      );
      await refused({ status: 401, code: 'unauthorized' }, () => jobChunk(job.id, parted.id, last, chunk(), {}, null));
      await refused({ status: 403, code: 'forbidden' }, () =>
        jobChunk(job.id, parted.id, last, chunk(), { 'X-Job-Token': otherJob.token }, null),
      );
    });
  });

  it('a chunk into a job that is processing → 409 job_locked', async () => {
    const locked = await r.lockedJob();
    await refused({ status: 409, code: 'job_locked' }, () =>
      jobChunk(locked.id, 'late-1', range(0, 99, 100), randomBytes(100)),
    );
    await refused({ status: 409, code: 'job_locked' }, () =>
      jobChunk(locked.id, 'late-2', range(0, 99, 100), randomBytes(100), { 'X-Job-Token': locked.token }, null),
    );
  });

  it('after the refusals, the uploads finish with exactly the bytes that were accepted', async () => {
    const last = randomBytes(200 * KiB);
    const done = await jobChunk(job.id, parted.id, range(5 * MiB, parted.size - 1, parted.size), last);
    expect(done.status).toBe(201);
    expect(await json(done)).toMatchObject({ complete: true, received_bytes: parted.size });
  });
});
