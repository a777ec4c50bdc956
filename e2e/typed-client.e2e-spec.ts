// @kiln/client end to end: the typed client generated from the OpenAPI document against a gateway,
// an assembler and a converter as OS processes (real PostgreSQL, Redis, S3 and ffmpeg).
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'pg';
import { createKilnClient, KilnApiError, type KilnErrorCode } from '@kiln/client';
import { probe } from '../libs/media/src/probe';
import { makeAudio, makeTempDir } from '../libs/media/src/testing';
import { Stack } from '../test/stack';

jest.setTimeout(180_000);

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** The rejection of a call, which must be a KilnApiError. */
async function refusal(call: Promise<unknown>): Promise<KilnApiError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KilnApiError);
  return err as KilnApiError;
}

describe('@kiln/client against a running stack', () => {
  const stack = new Stack();
  let tmp: { dir: string; remove: () => Promise<void> };
  let db: Client;
  let short: string;
  let long: string;
  const count = async (table: string) => Number((await db.query(`SELECT COUNT(*)::int AS n FROM ${table}`)).rows[0].n);

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-typed-client-');
    short = await makeAudio({ path: path.join(tmp.dir, 'short.wav'), seconds: 2, format: 'wav' });
    long = await makeAudio({ path: path.join(tmp.dir, 'long.wav'), seconds: 3, format: 'wav' });
    await stack.start({ gateways: 1, assemblers: 1, converters: 1 });
    db = new Client({ connectionString: stack.db.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await stack.stop();
    await tmp?.remove();
  });

  it('creates a job, uploads one file whole and one through a session, converts both and serves the outputs', async () => {
    // Every request the client makes, to count how it waits.
    const requested: string[] = [];
    const kiln = createKilnClient({
      baseUrl: stack.url,
      apiKey: stack.apiKey,
      fetch: (request) => {
        requested.push(`${request.method} ${request.url.slice(stack.url.length)}`);
        return fetch(request);
      },
    });
    const sizes = { short: (await stat(short)).size, long: (await stat(long)).size };

    const job = await kiln.createJob({
      process: false,
      input: [
        { type: 'upload', filename: 'short.wav', size: sizes.short },
        { type: 'upload', filename: 'long.wav', size: sizes.long },
      ],
      conversion: [{ target: 'mp3' }],
      tag: 'typed-client',
    });
    expect(job).toMatchObject({ status: { code: 'incomplete' }, process: false, tag: 'typed-client' });
    expect(job.input.map((i) => [i.filename, i.status])).toEqual([
      ['short.wav', 'pending'],
      ['long.wav', 'pending'],
    ]);
    const [shortInput, longInput] = job.input;

    // Whole file in one request, streamed from disk.
    const uploaded = await kiln.uploadFile(job.id, 'short.wav', createReadStream(short), { inputId: shortInput.id });
    expect(uploaded).toMatchObject({ id: shortInput.id, status: 'ready', filename: 'short.wav', size: sizes.short });
    expect(uploaded.checksum_sha256).toBe(sha256(await readFile(short)));

    // An upload session: opened with the typed helper, its bytes PUT through the typed route, read back.
    const longBytes = await readFile(long);
    const session = await kiln.createUpload({
      filename: 'long.wav',
      size: sizes.long,
      job_id: job.id,
      input_id: longInput.id,
      checksum_sha256: sha256(longBytes),
    });
    expect(session).toMatchObject({ status: 'uploading', size: sizes.long, offset: 0, received: [] });
    const put = await kiln.PUT('/v1/uploads/{id}', {
      params: { path: { id: session.id }, header: { 'Content-Range': `bytes 0-${sizes.long - 1}/${sizes.long}` } },
      body: createReadStream(long) as unknown as string,
      bodySerializer: (b: unknown) => b,
      headers: { 'Content-Type': 'application/octet-stream' },
      duplex: 'half',
    });
    expect(put.error).toBeUndefined();
    expect(put.response.status).toBe(201);
    expect(put.data).toMatchObject({ status: 'complete', received: [[0, sizes.long - 1]] });
    expect(await kiln.getUpload(session.id)).toMatchObject({ id: session.id, status: 'complete', offset: sizes.long });

    const started = await kiln.startJob(job.id);
    expect(started.process).toBe(true);
    const seen = new Set<string>();
    const before = requested.length;
    const done = await kiln.waitForJob(job.id, {
      timeoutMs: 150_000,
      onPoll: (j) => seen.add(j.status.code),
    });
    expect(done).toMatchObject({ id: job.id, status: { code: 'completed' }, progress: 100, errors: [] });
    expect(seen.has('completed')).toBe(true);
    // Long requests the server answers at the job's end (60 s each at most), not a poll a second.
    const waits = requested.slice(before);
    expect(waits.length).toBeGreaterThanOrEqual(1);
    expect(waits.length).toBeLessThanOrEqual(3);
    for (const r of waits) expect(r).toBe(`GET /v1/jobs/${job.id}?wait=60`);

    const listed = await kiln.listJobs({ status: 'completed', limit: 10 });
    expect(listed.items.map((j) => j.id)).toEqual([job.id]);

    const outputs = await kiln.outputs(job.id);
    expect(outputs.map((o) => o.input_id).sort()).toEqual([shortInput.id, longInput.id].sort());
    const expected: Record<string, number> = { [shortInput.id]: 2, [longInput.id]: 3 };
    for (const output of outputs) {
      expect(output.uri).toMatch(/^https?:\/\//);
      const res = await fetch(output.uri!);
      expect(res.status).toBe(200);
      const bytes = new Uint8Array(await res.arrayBuffer());
      expect(bytes.length).toBe(output.size);
      expect(sha256(bytes)).toBe(output.checksum_sha256);
      const file = path.join(tmp.dir, `${output.id}.mp3`);
      await writeFile(file, bytes);
      const media = await probe(file, { timeoutMs: 30_000 });
      expect(media).toMatchObject({ format: 'mp3', audio_codec: 'mp3' });
      expect(Math.abs((media.duration_s ?? 0) - expected[output.input_id])).toBeLessThan(0.3);
    }
    expect(await count('outputs')).toBe(2);
  });

  it('answers Kiln’s error JSON typed, and a refused request stores nothing', async () => {
    const kiln = createKilnClient({ baseUrl: stack.url, apiKey: stack.apiKey });
    const before = {
      jobs: await count('jobs'),
      inputs: await count('inputs'),
      conversions: await count('conversions'),
    };

    // 404 through the raw typed route: `error` is the Error schema, its code one of the table.
    const missing = randomUUID();
    const raw = await kiln.GET('/v1/jobs/{id}', { params: { path: { id: missing } } });
    expect(raw.data).toBeUndefined();
    expect(raw.response.status).toBe(404);
    const code: KilnErrorCode | undefined = raw.error?.error.code;
    expect(code).toBe('not_found');

    // The helpers throw KilnApiError with the same fields.
    const notFound = await refusal(kiln.getJob(missing));
    expect(notFound).toMatchObject({ status: 404, code: 'not_found' });
    expect(notFound.requestId).toBeTruthy();

    // 400 naming the field; nothing stored.
    const invalid = await refusal(
      kiln.createJob({
        process: true,
        input: [{ type: 'upload', filename: 'a.wav' }],
        conversion: [{ target: 'nope' }],
      }),
    );
    expect(invalid).toMatchObject({ status: 400, code: 'invalid_input' });
    expect(invalid.details.map((d) => d.field)).toContain('conversion.0.target');
    expect(invalid.message).toMatch(/conversion/);

    // 401 with a wrong key, and another key's job is a 404.
    const stranger = createKilnClient({ baseUrl: stack.url, apiKey: 'kiln_wrong_key_0123456789' });
    expect(await refusal(stranger.listJobs())).toMatchObject({ status: 401, code: 'unauthorized' });
    const [mine] = (await kiln.listJobs({ limit: 1 })).items;
    const other = createKilnClient({ baseUrl: stack.url, apiKey: stack.otherKey });
    expect(await refusal(other.getJob(mine.id))).toMatchObject({ status: 404, code: 'not_found' });
    expect(await refusal(other.cancelJob(mine.id))).toMatchObject({ status: 404, code: 'not_found' });

    expect({
      jobs: await count('jobs'),
      inputs: await count('inputs'),
      conversions: await count('conversions'),
    }).toEqual(before);
    expect((await kiln.getJob(mine.id)).status.code).toBe('completed');
  });
  it('runs the README’s five lines: a remote input converted, its outputs listed', async () => {
    // The remote input is served by this test (the stack allows private addresses).
    const server: Server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'audio/wav' });
      createReadStream(short).pipe(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const source = `http://127.0.0.1:${(server.address() as AddressInfo).port}/talk.wav`;
    const printed: string[] = [];
    const console = { log: (...a: unknown[]) => printed.push(a.join(' ')) };
    try {
      const kiln = createKilnClient({ baseUrl: stack.url, apiKey: stack.apiKey });
      const job = await kiln.createJob({ input: [{ type: 'remote', source }], conversion: [{ target: 'mp3' }] });
      const done = await kiln.waitForJob(job.id, { timeoutMs: 120_000 });
      for (const o of await kiln.outputs(done.id)) console.log(o.filename, o.size, o.uri);
      expect(done).toMatchObject({ status: { code: 'completed' }, input: [{ type: 'remote', source }] });
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    expect(printed).toHaveLength(1);
    const [filename, size, uri] = printed[0].split(' ');
    expect(filename).toMatch(/\.mp3$/);
    const bytes = new Uint8Array(await (await fetch(uri)).arrayBuffer());
    expect(bytes.length).toBe(Number(size));
  });
});
