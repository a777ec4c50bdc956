// A gateway killed with SIGKILL while an upload-session chunk (Content-Range PUT) and a tus PATCH
// stream through it (slow, trickled bodies): what the dead process held in Redis (the API key's
// upload slots, the tus upload's lock, the chunk's part lock) is free again within a bounded time,
// and both uploads resume on the other gateway (chunk ranges, tus HEAD offset) and assemble to the
// source's sha256. Real processes: two gateways and an assembler; PostgreSQL, Redis and radosgw.
import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { UPLOAD_SLOT_STALE_MS } from '../apps/api-gateway/src/limits/key-limits.service';
import { UPLOAD_LOCK_TTL_MS } from '../libs/uploads/src/upload-lock';
import { objectStoreOf } from '../test/e2e-helpers/object-store';
import { openRequest } from '../test/e2e-helpers/raw-http';
import { sha256OfStream } from '../test/files';
import { Stack, json, sleep, waitFor } from '../test/stack';

jest.setTimeout(240_000);

const MiB = 1024 * 1024;
const SIZE = 3 * MiB;
const TUS = { 'Tus-Resumable': '1.0.0' };
const b64 = (v: string) => Buffer.from(v).toString('base64');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** The bound the product promises for a dead gateway's upload slots (15 s), with slack for a busy machine. */
const SLOT_BOUND_MS = UPLOAD_SLOT_STALE_MS + 7_000;
/** The bound for its upload locks (8 s), with slack. */
const LOCK_BOUND_MS = UPLOAD_LOCK_TTL_MS + 4_000;

describe('a gateway killed (SIGKILL) with a chunk and a tus PATCH on the wire', () => {
  const stack = new Stack();
  let redis: Redis;
  let db: Client;
  let prefix: string;

  beforeAll(async () => {
    await stack.start({
      gateways: 2,
      converters: 0,
      env: {
        KILN_MAX_CONCURRENT_UPLOADS_PER_KEY: '2',
        // 1 MiB tus segments: the PATCH's first MiB is recorded while the rest still trickles.
        KILN_CHUNK_SIZE_MAX: '1MiB',
      },
    });
    prefix = stack.env.KILN_QUEUE_PREFIX;
    redis = new Redis(stack.env.REDIS_URL, { maxRetriesPerRequest: null });
    db = new Client({ connectionString: stack.db.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    redis?.disconnect();
    await stack.stop();
  });

  const [victimUrl, survivorUrl] = [0, 1].map((i) => () => stack.gatewayUrls[i]);
  const slotsKey = () => `${prefix}:limits:uploads:${createHash('sha256').update(stack.apiKey).digest('hex')}`;
  const chunkRows = async (uploadId: string) =>
    (
      await db.query<{ r: string }>(
        `SELECT start || '-' || "end" AS r FROM upload_chunks WHERE upload_id = $1 ORDER BY start`,
        [uploadId],
      )
    ).rows.map((x) => x.r);
  const putChunk = (base: string, id: string, bytes: Buffer, start: number) =>
    stack.api(`/v1/uploads/${id}`, {
      base,
      method: 'PUT',
      headers: { 'Content-Range': `bytes ${start}-${start + bytes.length - 1}/${SIZE}` },
      body: bytes,
    });

  /** Waits until an upload is assembled, asking the gateway that is still alive. */
  const assembled = (id: string) =>
    waitFor(`upload ${id} assembled`, async () => {
      const u = await json(stack.api(`/v1/uploads/${id}`, { base: survivorUrl() }));
      if (u.status === 'failed') throw new Error(`upload failed: ${u.error}`);
      return u.assembled;
    });

  /** Writes `head` at once, then one small piece every 100 ms until the request is done. */
  function trickled(url: string, method: string, headers: Record<string, string | number>, head: Buffer) {
    const open = openRequest(url, method, { 'X-Api-Key': stack.apiKey, 'Content-Length': SIZE, ...headers });
    open.req.on('error', () => undefined);
    open.req.write(head);
    let stopped = false;
    const pacing = (async () => {
      while (!stopped && !open.req.destroyed) {
        open.req.write(randomBytes(64));
        await sleep(100); // pacing the trickle, not synchronisation
      }
    })();
    open.answer.catch(() => undefined);
    return {
      answer: open.answer,
      stop: async () => {
        stopped = true;
        open.req.destroy();
        await pacing;
      },
    };
  }

  it('frees its upload slots and locks within a bound; both uploads resume on the other gateway', async () => {
    const file = randomBytes(SIZE);
    const sha = sha256(file);

    // An upload session with its first MiB stored; its last MiB (a multipart part) goes through the victim.
    const session = await json(
      stack.api('/v1/uploads', {
        method: 'POST',
        base: survivorUrl(),
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ filename: 'session.bin', size: SIZE, checksum_sha256: sha }),
      }),
    );
    expect((await putChunk(survivorUrl(), session.id, file.subarray(0, MiB), 0)).status).toBe(202);
    // A tus upload whose PATCH from offset 0 goes through the victim.
    const created = await stack.api('/v1/tus/', {
      method: 'POST',
      base: survivorUrl(),
      headers: {
        ...TUS,
        'Upload-Length': String(SIZE),
        'Upload-Metadata': `filename ${b64('tus.bin')},checksum_sha256 ${b64(sha)}`,
      },
    });
    expect(created.status).toBe(201);
    const tusPath = new URL(created.headers.get('location')!).pathname;
    const tusId = tusPath.split('/').pop()!;

    const chunkOnWire = trickled(
      `${victimUrl()}/v1/uploads/${session.id}`,
      'PUT',
      { 'Content-Range': `bytes ${2 * MiB}-${SIZE - 1}/${SIZE}`, 'Content-Length': MiB },
      file.subarray(2 * MiB, 2 * MiB + MiB / 2),
    );
    const patchOnWire = trickled(
      `${victimUrl()}${tusPath}`,
      'PATCH',
      { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': 0 },
      file.subarray(0, MiB + MiB / 2),
    );
    const tusLock = `${prefix}:tus:lock:${tusId}`;
    const partLocks = async () => redis.keys(`${prefix}:upload:lock:${session.id}:part-*`);
    const tusOffset = async (base: string) => {
      const head = await stack.api(tusPath, { base, method: 'HEAD', headers: TUS });
      expect(head.status).toBe(200);
      return Number(head.headers.get('upload-offset'));
    };
    // Both requests are inside the victim: two slots taken, both locks held, the PATCH's first
    // segment recorded while the rest trickles.
    await waitFor(
      'both requests streaming in the victim',
      async () =>
        (await redis.zcard(slotsKey())) === 2 &&
        (await redis.exists(tusLock)) === 1 &&
        (await partLocks()).length === 1 &&
        (await tusOffset(survivorUrl())) === MiB,
      30_000,
      100,
    );

    // A slot is a lease refreshed while its request lives: two requests streaming for longer than
    // a lease still hold both slots, and the key's next upload is refused.
    const streamingSince = Date.now();
    await waitFor(
      'the requests to outlive one slot lease',
      async () => Date.now() - streamingSince > UPLOAD_SLOT_STALE_MS + 1_000,
      UPLOAD_SLOT_STALE_MS + 5_000,
      250,
    );
    const whileLive = await putChunk(survivorUrl(), session.id, file.subarray(MiB, 2 * MiB), MiB);
    expect(whileLive.status).toBe(429);
    await whileLive.arrayBuffer();
    expect(await redis.zcard(slotsKey())).toBe(2);

    const victim = stack.apps.find((a) => a.name === 'gateway-1')!;
    victim.child.kill('SIGKILL');
    await victim.exited;
    const killedAt = Date.now();
    await Promise.all([chunkOnWire.stop(), patchOnWire.stop()]);
    expect((await Promise.allSettled([chunkOnWire.answer, patchOnWire.answer])).map((s) => s.status)).toEqual([
      'rejected',
      'rejected',
    ]);

    // Right after the kill the dead process's slots still count: the key's next upload is refused
    // (429, nothing stored), and its locks are still held.
    const refused = await putChunk(survivorUrl(), session.id, file.subarray(MiB, 2 * MiB), MiB);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBeTruthy();
    expect((await json(refused)).error.code).toBe('rate_limited');
    expect(await chunkRows(session.id)).toEqual([`0-${MiB - 1}`]);
    expect(await redis.exists(tusLock)).toBe(1);
    expect(await partLocks()).toHaveLength(1);

    // The locks lapse (no renewal from a dead process) …
    await waitFor(
      'the dead gateway’s locks to lapse',
      async () => (await redis.exists(tusLock)) === 0 && (await partLocks()).length === 0,
      LOCK_BOUND_MS,
      100,
    );
    const locksFreeMs = Date.now() - killedAt;
    // … and the slots stop counting: the refused chunk, sent again until it is admitted, is stored.
    let retried = 0;
    const admitted = await waitFor(
      'the dead gateway’s upload slots to be free',
      async () => {
        const res = await putChunk(survivorUrl(), session.id, file.subarray(MiB, 2 * MiB), MiB);
        if (res.status !== 429) return res;
        retried++;
        await res.arrayBuffer();
        return undefined;
      },
      SLOT_BOUND_MS,
      500,
    );
    const slotsFreeMs = Date.now() - killedAt;
    expect(admitted.status).toBe(202);
    expect(retried).toBeGreaterThan(0);

    // The session resumes: its ranges say what is missing (the chunk cut off by the kill is not
    // among them), the missing bytes are sent, the file assembles to the source's sha256.
    const state = await json(stack.api(`/v1/uploads/${session.id}`, { base: survivorUrl() }));
    expect(state).toMatchObject({ status: 'uploading', received: [[0, 2 * MiB - 1]], received_bytes: 2 * MiB });
    expect((await putChunk(survivorUrl(), session.id, file.subarray(2 * MiB), 2 * MiB)).status).toBe(201);
    await assembled(session.id);

    // The tus upload resumes from the offset HEAD gives on the other gateway.
    const offset = await tusOffset(survivorUrl());
    expect(offset).toBe(MiB);
    const patched = await stack.api(tusPath, {
      base: survivorUrl(),
      method: 'PATCH',
      headers: { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset) },
      body: file.subarray(offset),
    });
    expect(patched.status).toBe(204);
    expect(Number(patched.headers.get('upload-offset'))).toBe(SIZE);
    await assembled(tusId);

    // Both assembled files are the source, byte for byte (checked by the assembler against the
    // declared sha256, and here by reading them back).
    for (const id of [session.id, tusId]) {
      const { rows } = await db.query<{ object_key: string; status: string }>(
        'SELECT object_key, status FROM uploads WHERE id = $1',
        [id],
      );
      expect(rows[0].status).toBe('complete');
      expect(await sha256OfStream(await objectStoreOf(stack).get(rows[0].object_key))).toBe(sha);
    }
    // Every slot is given back: the dead ones were dropped, the survivor's released.
    expect(await redis.zcard(slotsKey())).toBe(0);
    console.log(
      `gateway SIGKILL: locks free after ${(locksFreeMs / 1000).toFixed(1)} s, upload slots after ${(slotsFreeMs / 1000).toFixed(1)} s (${retried} upload(s) refused 429 meanwhile)`,
    );
  });
});
