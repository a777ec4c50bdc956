// Chunked, resumable uploads and the assembler, end to end: two gateway processes, an assembler
// and a converter as OS processes, real PostgreSQL, Redis, S3 and ffmpeg. Uploads into jobs are in
// chunked-uploads-jobs.e2e-spec.ts.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { MiB, useChunkedUploadStack } from '../test/e2e-helpers/chunked-uploads';
import { chunkRanges, inParallel, makeRandomFile, readRange, shuffled } from '../test/files';
import { json, waitFor } from '../test/stack';

jest.setTimeout(300_000);

describe('chunked uploads and assembly (real processes, two gateways)', () => {
  const c = useChunkedUploadStack();
  const { stack, jsonPost, putChunk, runMaintenance, assembled, storedSha } = c;
  let big: string;
  let bigSha: string;
  const BIG = 64 * MiB;

  beforeAll(async () => {
    big = path.join(c.tmp.dir, 'big.bin');
    bigSha = await makeRandomFile(big, BIG);
  });

  it.each([
    ['5 MiB chunks: multipart parts, completed in place', 5 * MiB],
    ['200 KiB chunks: streamed assembly', 200 * 1024],
  ])('64 MiB in shuffled %s, 4 concurrent clients over both gateways → the same sha256', async (_name, chunk) => {
    const session = await json(jsonPost('/v1/uploads', { filename: 'big.bin', size: BIG, checksum_sha256: bigSha }));
    expect(session).toMatchObject({ status: 'uploading', offset: 0, received: [], size: BIG });
    const answers: number[] = [];
    await inParallel(shuffled(chunkRanges(BIG, chunk)), 4, async (r, i) => {
      const res = await putChunk(session.id, big, r, BIG, stack.gatewayUrls[i % 2]);
      answers.push(res.status);
      if (res.status >= 300) throw new Error(`chunk ${r.start}-${r.end}: ${res.status} ${await res.text()}`);
    });
    expect(answers.filter((s) => s === 201)).toHaveLength(1);
    expect(answers.filter((s) => s === 202)).toHaveLength(answers.length - 1);
    const done = await assembled(session.id);
    expect(done).toMatchObject({ status: 'complete', offset: BIG, received: [[0, BIG - 1]], received_bytes: BIG });
    expect(await storedSha(session.id, 'big.bin')).toBe(bigSha);
    // The chunk objects are removed right after the upload is marked assembled, so the API can say
    // "assembled" a moment before the last of them is gone: wait for the cleanup, then check it is complete.
    const leftovers = await waitFor(
      'chunk cleanup',
      async () => {
        const keys: string[] = [];
        for await (const o of c.store.list(`chunks/${session.id}/`)) keys.push(o.key);
        return keys.length === 0 ? keys : undefined;
      },
      60_000,
      500,
    );
    expect(leftovers).toEqual([]);
  });

  it('resumes after the gateway process is killed mid-upload', async () => {
    const size = 12 * MiB;
    const file = path.join(c.tmp.dir, 'resume.bin');
    const sha = await makeRandomFile(file, size);
    const session = await json(jsonPost('/v1/uploads', { filename: 'resume.bin', size, checksum_sha256: sha }));
    const ranges = chunkRanges(size, 1 * MiB);
    const first = ranges.filter((_, i) => i % 3 !== 2); // leave holes
    for (const r of first.slice(0, 6)) expect((await putChunk(session.id, file, r, size)).status).toBe(202);

    const gw = stack.apps.find((a) => a.name === 'gateway-1')!;
    gw.child.kill('SIGKILL');
    await gw.exited;
    const port = new URL(stack.gatewayUrls[0]).port;
    stack.spawnApp('api-gateway', 'gateway-1b', { KILN_PORT: port, KILN_HOST: '127.0.0.1' });
    await stack.waitReady(stack.gatewayUrls[0]);

    const state = await json(stack.api(`/v1/uploads/${session.id}`));
    expect(state.received_bytes).toBe(6 * MiB);
    const head = await stack.api(`/v1/uploads/${session.id}`, { method: 'HEAD' });
    expect(head.headers.get('upload-offset')).toBe(String(state.offset));
    const incomplete = await stack.api(`/v1/uploads/${session.id}/complete`, { method: 'POST' });
    expect(incomplete.status).toBe(400);
    const gaps = (await json(incomplete)).error.details;
    expect(gaps.length).toBeGreaterThan(0);
    // Send only what the server says is missing.
    const missing = gaps.flatMap((g: { start: number; end: number }) =>
      chunkRanges(g.end - g.start + 1, 1 * MiB).map((r) => ({ start: r.start + g.start, end: r.end + g.start })),
    );
    for (const r of missing) expect([201, 202]).toContain((await putChunk(session.id, file, r, size)).status);
    const completed = await stack.api(`/v1/uploads/${session.id}/complete`, { method: 'POST' });
    expect(completed.status).toBe(200);
    await assembled(session.id);
    expect(await storedSha(session.id, 'resume.bin')).toBe(sha);
  });

  it('a burst of 20 first chunks (5 MiB parts) at once on a fresh session: every one accepted, one multipart upload', async () => {
    const size = 20 * 5 * MiB;
    const file = path.join(c.tmp.dir, 'burst.bin');
    const sha = await makeRandomFile(file, size);
    const s = await json(jsonPost('/v1/uploads', { filename: 'burst.bin', size }));
    const answers = await Promise.all(
      chunkRanges(size, 5 * MiB).map(
        async (r, i) => (await putChunk(s.id, file, r, size, stack.gatewayUrls[i % 2])).status,
      ),
    );
    expect(answers.sort()).toEqual([201, ...Array(19).fill(202)]);
    await assembled(s.id);
    expect(await storedSha(s.id, 'burst.bin')).toBe(sha);
  });

  it('chunks stored as multipart parts: re-sends, changed bytes sent at the same moment from two gateways, digests', async () => {
    const size = 11 * MiB;
    const file = path.join(c.tmp.dir, 'parts.bin');
    await makeRandomFile(file, size);
    const s = await json(jsonPost('/v1/uploads', { filename: 'parts.bin', size }));
    const first = { start: 0, end: 5 * MiB - 1 };
    const original = await readRange(file, first.start, first.end);
    const changed = Buffer.from(original);
    changed[12345] ^= 0xff;
    // The same part from two gateways at once, one with different bytes: one is stored, the other
    // is refused (409) — never a mix, whichever comes first.
    const send = (body: Uint8Array, base: string) =>
      stack.api(`/v1/uploads/${s.id}`, {
        method: 'PUT',
        base,
        headers: { 'Content-Range': `bytes 0-${5 * MiB - 1}/${size}` },
        body,
      });
    const [a, b] = await Promise.all([send(original, stack.gatewayUrls[0]), send(changed, stack.gatewayUrls[1])]);
    expect([a.status, b.status].sort()).toEqual([202, 409]);
    const kept = a.status === 202 ? original : changed;
    // An identical re-send of the stored version is accepted again; the other version is refused.
    expect((await send(kept, stack.gatewayUrls[1])).status).toBe(202);
    expect((await send(kept === original ? changed : original, stack.gatewayUrls[0])).status).toBe(409);
    // A part with a wrong digest is discarded; with the right one it counts.
    const second = await readRange(file, 5 * MiB, size - 1);
    const putSecond = (digest: string) =>
      stack.api(`/v1/uploads/${s.id}`, {
        method: 'PUT',
        headers: { 'Content-Range': `bytes ${5 * MiB}-${size - 1}/${size}`, 'Content-Digest': `sha-256=:${digest}:` },
        body: second,
      });
    expect((await putSecond(createHash('sha256').update('other bytes').digest('base64'))).status).toBe(422);
    expect((await json(stack.api(`/v1/uploads/${s.id}`))).received).toEqual([[0, 5 * MiB - 1]]);
    expect((await putSecond(createHash('sha256').update(second).digest('base64'))).status).toBe(201);
    await assembled(s.id);
    const expected = createHash('sha256').update(kept).update(second).digest('hex');
    expect(await storedSha(s.id, 'parts.bin')).toBe(expected);
  });

  describe('idempotency, conflicts and malformed ranges', () => {
    const size = 3 * MiB;
    let file: string;
    beforeAll(async () => {
      file = path.join(c.tmp.dir, 'small.bin');
      await makeRandomFile(file, size);
    });

    it('accepts an identical re-send, refuses changed bytes and partial overlaps (409), checks chunk digests (422)', async () => {
      const s = await json(jsonPost('/v1/uploads', { filename: 'small.bin', size }));
      const r = { start: 0, end: MiB - 1 };
      expect((await putChunk(s.id, file, r, size)).status).toBe(202);
      const again = await putChunk(s.id, file, r, size, stack.gatewayUrls[1]);
      expect(again.status).toBe(202);
      expect((await json(again)).received_bytes).toBe(MiB);

      const changed = Buffer.from(await readRange(file, 0, MiB - 1));
      changed[10] ^= 0xff;
      const conflict = await stack.api(`/v1/uploads/${s.id}`, {
        method: 'PUT',
        headers: { 'Content-Range': `bytes 0-${MiB - 1}/${size}` },
        body: changed,
      });
      expect(conflict.status).toBe(409);
      expect((await json(conflict)).error.code).toBe('conflict');
      const overlap = await putChunk(s.id, file, { start: MiB / 2, end: MiB + MiB / 2 - 1 }, size);
      expect(overlap.status).toBe(409);
      expect((await json(overlap)).error.message).toMatch(/overlap/);

      const second = await readRange(file, MiB, 2 * MiB - 1);
      const wrongDigest = createHash('sha256').update('something else').digest('base64');
      const bad = await stack.api(`/v1/uploads/${s.id}`, {
        method: 'PUT',
        headers: {
          'Content-Range': `bytes ${MiB}-${2 * MiB - 1}/${size}`,
          'Content-Digest': `sha-256=:${wrongDigest}:`,
        },
        body: second,
      });
      expect(bad.status).toBe(422);
      expect((await json(bad)).error.code).toBe('unprocessable');
      const goodDigest = createHash('sha256').update(second).digest('base64');
      const good = await stack.api(`/v1/uploads/${s.id}`, {
        method: 'PUT',
        headers: {
          'Content-Range': `bytes ${MiB}-${2 * MiB - 1}/${size}`,
          'Content-Digest': `sha-256=:${goodDigest}:`,
        },
        body: second,
      });
      expect(good.status).toBe(202);
      const state = await json(stack.api(`/v1/uploads/${s.id}`));
      expect(state.received).toEqual([[0, 2 * MiB - 1]]);
      expect(state.offset).toBe(2 * MiB);
      // Stored chunk objects: exactly the two accepted ones (the rejected bytes were discarded).
      const keys: string[] = [];
      for await (const o of c.store.list(`chunks/${s.id}/`)) keys.push(o.key);
      expect(keys).toHaveLength(2);
    });

    it.each([
      ['bytes 0-99', 416, /bytes start-end\/total/],
      ['bytes=0-99/3145728', 416, /bytes start-end\/total/],
      ['bytes 0-99/*', 416, /unknown total/],
      ['bytes 200-100/3145728', 416, /before start/],
      ['bytes 0-3145728/3145728', 416, /beyond the total/],
      ['bytes 0-1048575/9999999', 416, /differs from the upload's size/],
      ['bytes 0-99/3145728', 416, /chunk_size_min/],
      ['bytes 0-16777216/33554432', 416, /differs|beyond/],
    ])('Content-Range %p → %i with a reason', async (header, status, reason) => {
      const s = await json(jsonPost('/v1/uploads', { filename: 'x.bin', size }));
      const res = await stack.api(`/v1/uploads/${s.id}`, {
        method: 'PUT',
        headers: { 'Content-Range': header },
        body: Buffer.alloc(100),
      });
      expect(res.status).toBe(status);
      const e = (await json(res)).error;
      expect(e.code).toBe('range_not_satisfiable');
      expect(e.message).toMatch(reason);
    });

    it('413 for a chunk over chunk_size_max or a file over the limit; 403 for another job token; 404 for another key', async () => {
      const s = await json(jsonPost('/v1/uploads', { filename: 'x.bin', size: 40 * MiB }));
      const tooBig = await stack.api(`/v1/uploads/${s.id}`, {
        method: 'PUT',
        headers: { 'Content-Range': `bytes 0-${17 * MiB - 1}/${40 * MiB}` },
        body: Buffer.alloc(10),
      });
      expect(tooBig.status).toBe(413);
      const job = await json(jsonPost('/v1/jobs', { conversion: [{ target: 'mp3' }] }));
      const other = await json(jsonPost('/v1/jobs', { conversion: [{ target: 'mp3' }] }));
      const viaToken = await fetch(`${stack.url}/v1/jobs/${job.id}/upload`, {
        method: 'POST',
        headers: { 'X-Job-Token': other.token, 'X-Upload-Id': 'u1', 'Content-Range': `bytes 0-99/100` },
        body: Buffer.alloc(100),
      });
      expect(viaToken.status).toBe(403);
      const otherKey = await stack.api(`/v1/jobs/${job.id}/upload`, {
        key: stack.otherKey,
        method: 'POST',
        headers: { 'X-Upload-Id': 'u1', 'Content-Range': `bytes 0-99/100` },
        body: Buffer.alloc(100),
      });
      expect(otherKey.status).toBe(404);
      const otherKeySession = await stack.api(`/v1/uploads/${s.id}`, { key: stack.otherKey });
      expect(otherKeySession.status).toBe(404);
      const huge = await jsonPost('/v1/uploads', { filename: 'x.bin', size: 1024 * 1024 * MiB });
      expect(huge.status).toBe(413);
    });

    it('a whole-file checksum mismatch fails the upload and its input after assembly', async () => {
      const job = await json(jsonPost('/v1/jobs', { process: false, conversion: [{ target: 'mp3' }] }));
      const s = await json(
        jsonPost('/v1/uploads', { filename: 'small.bin', size, job_id: job.id, checksum_sha256: 'a'.repeat(64) }),
      );
      for (const r of chunkRanges(size, MiB)) await putChunk(s.id, file, r, size);
      const failed = await waitFor('failed upload', async () => {
        const u = await json(stack.api(`/v1/uploads/${s.id}`));
        return u.status === 'failed' ? u : undefined;
      });
      expect(failed.error).toMatch(/checksum mismatch/);
      const j = await json(stack.api(`/v1/jobs/${job.id}`));
      expect(j.input[0]).toMatchObject({ status: 'failed', error: expect.stringMatching(/checksum mismatch/) });
    });
  });

  it('expired sessions are removed with their chunks by the maintenance run', async () => {
    const size = 2 * MiB;
    const file = path.join(c.tmp.dir, 'small.bin');
    const s = await json(
      jsonPost('/v1/uploads', { filename: 'small.bin', size, expires_at: Math.floor(Date.now() / 1000) + 2 }),
    );
    expect((await putChunk(s.id, file, { start: 0, end: MiB - 1 }, size)).status).toBe(202);
    await new Promise((r) => setTimeout(r, 2500));
    await runMaintenance();
    expect((await stack.api(`/v1/uploads/${s.id}`)).status).toBe(404);
    const keys: string[] = [];
    for await (const o of c.store.list(`chunks/${s.id}/`)) keys.push(o.key);
    expect(keys).toEqual([]);
  });
});
