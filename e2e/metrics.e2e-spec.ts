// Metrics and worker health end to end: gateway, assembler and converter as OS processes, each
// worker with its own HTTP port (KILN_WORKER_HTTP_PORT); one real WAV → MP3 job with a callback,
// one chunked upload assembled by the assembler; then every /metrics is scraped and read.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { makeAudio, makeTempDir } from '../libs/media/src/testing';
import { CallbackReceiver } from '../test/callback-receiver';
import { parseMetrics, type Sample, value } from '../test/prometheus';
import { Stack, freePort, json, waitFor, type RunningApp } from '../test/stack';

jest.setTimeout(180_000);

const QUEUES = ['assemble', 'fetch', 'convert', 'finalize', 'callback', 'maintenance'];
const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

describe('metrics and worker health (real processes)', () => {
  const stack = new Stack();
  const receiver = new CallbackReceiver();
  let tmp: { dir: string; remove: () => Promise<void> };
  let wav: string;
  let converter: { app: RunningApp; url: string };
  let assembler: { app: RunningApp; url: string };
  let tokenGateway: string;

  async function spawnWorker(app: 'converter' | 'assembler', extra: Record<string, string> = {}) {
    const port = await freePort();
    const running = stack.spawnApp(app, `${app}-metrics`, {
      KILN_WORKER_HTTP_PORT: String(port),
      KILN_HOST: '127.0.0.1',
      ...extra,
    });
    return { app: running, url: `http://127.0.0.1:${port}` };
  }

  async function scrape(url: string, token?: string): Promise<Sample[]> {
    const res = await fetch(`${url}/metrics`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseMetrics(await res.text());
  }

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-e2e-metrics-');
    wav = await makeAudio({ path: path.join(tmp.dir, 'tone.wav'), seconds: 2, format: 'wav' });
    await receiver.start();
    await stack.start({ converters: 0, assemblers: 0, env: { KILN_CHUNK_SIZE_MIN: '65536' } });
    converter = await spawnWorker('converter');
    // The assembler also proves a worker's /metrics honours KILN_METRICS_TOKEN.
    assembler = await spawnWorker('assembler', { KILN_METRICS_TOKEN: METRICS_TOKEN });
    const port = await freePort();
    tokenGateway = `http://127.0.0.1:${port}`;
    stack.spawnApp('api-gateway', 'gateway-token', {
      KILN_PORT: String(port),
      KILN_HOST: '127.0.0.1',
      KILN_METRICS_TOKEN: METRICS_TOKEN,
    });
    await Promise.all([
      stack.waitForLog(converter.app, /ready"/),
      stack.waitForLog(assembler.app, /ready"/),
      stack.waitReady(tokenGateway),
    ]);
  });

  afterAll(async () => {
    await stack.stop();
    await receiver.stop();
    await tmp?.remove();
  });

  it('counts one real job on the gateway, the converter and the assembler', async () => {
    const size = (await stat(wav)).size;
    const bytes = await readFile(wav);

    // 1. A whole-file upload converted to MP3, with a callback.
    const created = await stack.api('/v1/jobs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ input: [{ type: 'upload' }], conversion: [{ target: 'mp3' }], callback: receiver.url }),
    });
    expect(created.status).toBe(201);
    const job = await json(created);
    const form = new FormData();
    form.append('file', new Blob([bytes]), 'tone.wav');
    const up = await stack.api(`/v1/jobs/${job.id}/upload`, { method: 'POST', body: form });
    expect(up.status).toBe(201);
    const cb = await waitFor('callback', async () => receiver.forJob(job.id)[0], 120_000);
    expect(cb.json.status.code).toBe('completed');

    // 2. A chunked upload (two chunks) the assembler stitches by streaming (a 100 KB chunk object, then
    //    the last chunk as a multipart part: a mix is streamed in file order).
    const held = await json(
      stack.api('/v1/jobs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ process: false }),
      }),
    );
    const cut = 100_000;
    for (const [start, end] of [
      [0, cut - 1],
      [cut, size - 1],
    ]) {
      const res = await stack.api(`/v1/jobs/${held.id}/upload`, {
        method: 'POST',
        headers: {
          'X-Upload-Id': 'tone',
          'X-File-Name': 'tone.wav',
          'Content-Range': `bytes ${start}-${end}/${size}`,
          'Content-Type': 'application/octet-stream',
        },
        body: bytes.subarray(start, end + 1),
      });
      expect([201, 202]).toContain(res.status);
    }
    await waitFor(
      'assembled input',
      async () => {
        const j = await json(stack.api(`/v1/jobs/${held.id}`));
        return j.input[0]?.status === 'ready';
      },
      60_000,
    );

    // An unknown path is labelled "unmatched", never with the raw URL.
    expect((await stack.api(`/v1/nothing-here/${job.id}`)).status).toBe(404);

    // Gateway.
    const gw = await scrape(stack.url);
    expect(
      value(gw, 'kiln_http_request_duration_seconds_count', { method: 'POST', route: '/v1/jobs', status: '201' }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      value(gw, 'kiln_http_request_duration_seconds_count', {
        method: 'POST',
        route: '/v1/jobs/:id/upload',
        status: '201',
      }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      value(gw, 'kiln_http_request_duration_seconds_count', { method: 'GET', route: '/v1/jobs/:id', status: '200' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      value(gw, 'kiln_http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status: '404' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      value(gw, 'kiln_http_request_duration_seconds_bucket', {
        method: 'POST',
        route: '/v1/jobs',
        status: '201',
        le: '+Inf',
      }),
    ).toBeGreaterThanOrEqual(2);
    const routes = new Set(gw.filter((s) => s.labels.route !== undefined).map((s) => s.labels.route));
    expect([...routes].some((r) => r.includes(job.id) || r.includes(held.id))).toBe(false);
    expect(value(gw, 'kiln_upload_bytes_received_total', { kind: 'whole' })).toBe(size);
    expect(value(gw, 'kiln_upload_bytes_received_total', { kind: 'chunk' })).toBe(size);
    expect(value(gw, 'kiln_uploads_in_progress')).toBe(0);
    for (const queue of QUEUES) {
      for (const state of ['waiting', 'active', 'delayed', 'failed']) {
        expect(value(gw, 'kiln_queue_jobs', { queue, state })).toEqual(expect.any(Number));
      }
    }
    expect(value(gw, 'kiln_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(value(gw, 'kiln_process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(gw.every((s) => s.labels.app === 'api-gateway')).toBe(true);

    // Converter (the delivered-attempt counter moves once the attempt is recorded, just after the receiver saw it).
    const conv = await waitFor(
      'callback attempt counted',
      async () => {
        const s = await scrape(converter.url);
        return (value(s, 'kiln_callback_attempts_total', { outcome: 'delivered' }) ?? 0) >= 1 ? s : undefined;
      },
      20_000,
    );
    expect(
      value(conv, 'kiln_conversion_duration_seconds_count', { target: 'mp3', outcome: 'success' }),
    ).toBeGreaterThanOrEqual(1);
    expect(value(conv, 'kiln_conversion_duration_seconds_sum', { target: 'mp3', outcome: 'success' })).toBeGreaterThan(
      0,
    );
    expect(value(conv, 'kiln_ffmpeg_processes')).toBe(0);
    expect(value(conv, 'kiln_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(conv.every((s) => s.labels.app === 'converter')).toBe(true);

    // Assembler (its /metrics needs the token it was given).
    expect((await fetch(`${assembler.url}/metrics`)).status).toBe(401);
    // The input shows ready a moment before the assembler's handler returns and counts the assembly.
    const asm = await waitFor(
      'assembly counted',
      async () => {
        const s = await scrape(assembler.url, METRICS_TOKEN);
        return value(s, 'kiln_assemblies_total', { mode: 'stream', outcome: 'success' }) !== undefined ? s : undefined;
      },
      20_000,
    );
    expect(value(asm, 'kiln_assemblies_total', { mode: 'stream', outcome: 'success' })).toBe(1);
    expect(value(asm, 'kiln_process_cpu_seconds_total')).toBeGreaterThan(0);
  });

  it('answers worker liveness and readiness with the checks listed', async () => {
    for (const worker of [converter, assembler]) {
      expect((await fetch(`${worker.url}/health/live`)).status).toBe(200);
      const res = await fetch(`${worker.url}/health/ready`);
      const body = await json(res);
      expect(res.status).toBe(200);
      expect(body.status).toBe('ok');
      expect(body.checks.map((c: { name: string }) => c.name)).toEqual(['database', 'redis', 'storage', 'workers']);
      expect(body.checks.every((c: { ok: boolean }) => c.ok)).toBe(true);
      expect((await fetch(`${worker.url}/nothing`)).status).toBe(404);
    }
  });

  it('puts the gateway /metrics behind a Bearer token when KILN_METRICS_TOKEN is set', async () => {
    expect((await fetch(`${tokenGateway}/metrics`)).status).toBe(401);
    expect(
      (await fetch(`${tokenGateway}/metrics`, { headers: { Authorization: 'Bearer wrong-token-0123456789' } })).status,
    ).toBe(401);
    expect((await fetch(`${tokenGateway}/metrics`, { headers: { 'X-Api-Key': stack.apiKey } })).status).toBe(401);
    const samples = await scrape(tokenGateway, METRICS_TOKEN);
    expect(value(samples, 'kiln_process_resident_memory_bytes')).toBeGreaterThan(0);
    // The gateway without a token stays public.
    expect((await fetch(`${stack.url}/metrics`)).status).toBe(200);
  });
});
