// SIGTERM on a gateway: it stops accepting connections, lets the request in flight (an upload)
// finish, and exits 0.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { makeAudio, makeTempDir } from '../libs/media/src/testing';
import { jobEnded } from '../test/e2e-helpers/jobs';
import { Stack, freePort, json, waitFor } from '../test/stack';

jest.setTimeout(120_000);

describe('gateway graceful shutdown', () => {
  const stack = new Stack();
  let tmp: { dir: string; remove: () => Promise<void> };

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-drain-');
    await stack.start({ converters: 1 });
  });

  afterAll(async () => {
    await stack.stop();
    await tmp?.remove();
  });

  it('finishes an upload in flight, refuses new connections, exits 0', async () => {
    const wav = await readFile(await makeAudio({ path: path.join(tmp.dir, 'a.wav'), seconds: 2, format: 'wav' }));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const gw = stack.spawnApp('api-gateway', 'gateway-draining', { KILN_PORT: String(port), KILN_HOST: '127.0.0.1' });
    await stack.waitReady(url);
    const job = await json(
      stack.api('/v1/jobs', {
        base: url,
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ conversion: [{ target: 'mp3' }] }),
      }),
    );

    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
      },
    });
    controller.enqueue(new Uint8Array(wav.subarray(0, 1000)));
    const upload = fetch(`${url}/v1/jobs/${job.id}/upload`, {
      method: 'POST',
      headers: { 'X-Api-Key': stack.apiKey, 'X-File-Name': 'a.wav', 'Content-Type': 'audio/wav' },
      body,
      duplex: 'half',
    } as RequestInit);
    // The gateway is inside the request: it has claimed an input for the file and is reading it.
    await waitFor(
      'the upload in flight',
      async () =>
        (await json(stack.api(`/v1/jobs/${job.id}`))).input.some((i: { status: string }) => i.status === 'uploading'),
      10_000,
      50,
    );
    gw.child.kill('SIGTERM');
    await stack.waitForLog(gw, /api-gateway stopping/);
    await expect(fetch(`${url}/health/live`)).rejects.toThrow(); // no new connections
    controller.enqueue(new Uint8Array(wav.subarray(1000)));
    controller.close();
    const res = await upload;
    expect(res.status).toBe(201);
    expect((await json(res)).input).toMatchObject({ status: 'ready', size: wav.length });
    expect(await gw.exited).toBe(0);
    // The job goes on without that gateway.
    const final = await jobEnded(stack, job.id, 40_000);
    expect(final.status.code).toBe('completed');
  });
});
