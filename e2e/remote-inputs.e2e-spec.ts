// Remote inputs end to end: the assembler fetches them (redirects, cancel in flight, errors, the
// private-address guard), with gateway, assembler and converter as separate OS processes, real
// PostgreSQL, Redis, S3 (radosgw) and ffmpeg.
import path from 'node:path';
import { makeAudio, makeTempDir } from '../libs/media/src/testing';
import { jobEnded } from '../test/e2e-helpers/jobs';
import { Stack, freePort, json, waitFor } from '../test/stack';

jest.setTimeout(180_000);

describe('remote inputs (fetched by the assembler)', () => {
  const stack = new Stack();
  let server: import('node:http').Server;
  let base = '';
  let wavBytes: Buffer;
  let tmp: { dir: string; remove: () => Promise<void> };
  const trickle = { opened: 0, closed: 0 };

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-remote-');
    wavBytes = await import('node:fs/promises').then(async (f) =>
      f.readFile(await makeAudio({ path: path.join(tmp.dir, 'r.wav'), seconds: 2, format: 'wav' })),
    );
    const http = await import('node:http');
    server = http.createServer((req, res) => {
      if (req.url === '/redirect') return void res.writeHead(302, { Location: '/files/remote.wav' }).end();
      if (req.url === '/files/remote.wav')
        return void res
          .writeHead(200, { 'Content-Type': 'audio/wav', 'Content-Length': wavBytes.length })
          .end(wavBytes);
      if (req.url === '/trickle.wav') {
        // A slow server: 1 KiB every 200 ms of a 1 GiB body, so the download is in flight until someone stops it.
        trickle.opened++;
        res.writeHead(200, { 'Content-Type': 'audio/wav', 'Content-Length': 1024 ** 3 });
        const timer = setInterval(() => res.write(Buffer.alloc(1024)), 200);
        res.on('close', () => {
          clearInterval(timer);
          trickle.closed++;
        });
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    await stack.start({ converters: 1 });
  });

  afterAll(async () => {
    await stack.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await tmp?.remove();
  });

  it('fetches a remote input through a redirect and converts it', async () => {
    const res = await stack.api('/v1/jobs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        input: [{ type: 'remote', source: `${base}/redirect` }],
        conversion: [{ target: 'mp3' }],
      }),
    });
    expect(res.status).toBe(201);
    const job = await json(res);
    const final = await jobEnded(stack, job.id, 120_000);
    expect(final.status.code).toBe('completed');
    expect(final.input[0]).toMatchObject({
      type: 'remote',
      status: 'ready',
      filename: 'remote.wav',
      size: wavBytes.length,
    });
    expect(final.output[0].filename).toBe('remote.mp3');
  });

  it('cancel stops a remote download in flight (the assembler drops the connection) and sends job.canceled', async () => {
    const job = await json(
      stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          input: [{ type: 'remote', source: `${base}/trickle.wav` }],
          conversion: [{ target: 'mp3' }],
        }),
      }),
    );
    await waitFor(
      'download started',
      async () => trickle.opened > 0 && (await json(stack.api(`/v1/jobs/${job.id}/input`)))[0].status === 'uploading',
    );
    expect(trickle.closed).toBe(0);
    const res = await stack.api(`/v1/jobs/${job.id}`, { method: 'DELETE' });
    expect((await json(res)).status.code).toBe('canceled');
    // The body would take days at this rate; only the cancel signal closes the connection.
    await waitFor('connection closed by the assembler', async () => trickle.closed === trickle.opened, 30_000);
    const assembler = stack.apps.find((a) => a.app === 'assembler')!;
    await waitFor(
      'log line',
      async () =>
        assembler.output
          .join('')
          .split('\n')
          .some((l) => l.includes(job.id) && l.includes('remote download stopped')),
      10_000,
    );
    expect((await json(stack.api(`/v1/jobs/${job.id}`))).status.code).toBe('canceled');
  });

  it('a remote input that answers 404 fails the job with an input error', async () => {
    const job = await json(
      stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          input: [{ type: 'remote', source: `${base}/missing.wav` }],
          conversion: [{ target: 'mp3' }],
        }),
      }),
    );
    const final = await jobEnded(stack, job.id, 120_000);
    expect(final.status.code).toBe('failed');
    expect(final.errors).toEqual([
      expect.objectContaining({ source: 'input', input_id: job.input[0].id, message: expect.stringMatching(/404/) }),
    ]);
  });

  it('by default (KILN_ALLOW_PRIVATE_URLS unset) refuses private, loopback and metadata addresses', async () => {
    const guardedPort = await freePort();
    stack.spawnApp('api-gateway', 'gateway-guarded', {
      KILN_PORT: String(guardedPort),
      KILN_HOST: '127.0.0.1',
      KILN_ALLOW_PRIVATE_URLS: 'false',
    });
    const guardedUrl = `http://127.0.0.1:${guardedPort}`;
    await stack.waitReady(guardedUrl);
    for (const source of [
      'http://127.0.0.1/a.wav',
      'http://10.0.0.1/a.wav',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/a.wav',
      'http://localhost/a.wav',
    ]) {
      const res = await stack.api('/v1/jobs', {
        base: guardedUrl,
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ input: [{ type: 'remote', source }], conversion: [{ target: 'mp3' }] }),
      });
      expect(res.status).toBe(400);
      expect((await json(res)).error.details).toEqual([expect.objectContaining({ field: 'input.0.source' })]);
    }
    const cb = await stack.api('/v1/jobs', {
      base: guardedUrl,
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ callback: 'http://169.254.169.254/hook' }),
    });
    expect(cb.status).toBe(400);
    expect((await json(cb)).error.details[0].field).toBe('callback');
  });
});
