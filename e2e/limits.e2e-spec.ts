// Limits per API key across gateway replicas (request rate, uploads in flight), fair share between
// keys on the convert queue, and the queue board behind the API key. Real processes and services.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { makeImage, makeTempDir } from '../libs/media/src/testing';
import { Stack, freePort, json, waitFor } from '../test/stack';

jest.setTimeout(240_000);

describe('per-key limits, fair share and the queue board', () => {
  const stack = new Stack();
  let limited = '';
  let tmp: { dir: string; remove: () => Promise<void> };
  let png: Buffer;

  beforeAll(async () => {
    tmp = await makeTempDir('kiln-limits-');
    png = await readFile(await makeImage({ path: path.join(tmp.dir, 'dot.png'), width: 64, height: 48 }));
    await stack.start({ converters: 1 });
    const port = await freePort();
    limited = `http://127.0.0.1:${port}`;
    stack.spawnApp('api-gateway', 'gateway-limited', {
      KILN_PORT: String(port),
      KILN_HOST: '127.0.0.1',
      KILN_RATE_LIMIT_PER_MINUTE: '20',
      KILN_MAX_CONCURRENT_UPLOADS_PER_KEY: '2',
    });
    await stack.waitReady(limited);
  });

  afterAll(async () => {
    await stack.stop();
    await tmp?.remove();
  });

  it('answers 429 rate_limited with Retry-After past the per-minute rate, for that key only', async () => {
    // Fixed one-minute windows: start well inside one, so the 25 requests never straddle two.
    await waitFor('the start of a minute window', async () => Date.now() % 60_000 < 40_000, 30_000, 250);
    const statuses: number[] = [];
    let limitedAnswer: Response | undefined;
    for (let i = 0; i < 25; i++) {
      const res = await stack.api('/v1/jobs?limit=1', { base: limited });
      statuses.push(res.status);
      if (res.status === 429) limitedAnswer = res;
      else await res.arrayBuffer();
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(20);
    expect(statuses.slice(20).every((s) => s === 429)).toBe(true);
    expect(Number(limitedAnswer!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await json(limitedAnswer!)).error.code).toBe('rate_limited');
    // Another key is not affected; public routes are not counted.
    expect((await stack.api('/v1/jobs?limit=1', { base: limited, key: stack.otherKey })).status).toBe(200);
    expect((await fetch(`${limited}/health/live`)).status).toBe(200);
  });

  it('allows at most N uploads in flight per key; the next one gets 429 until one ends', async () => {
    const key = stack.otherKey; // the first key used up its rate above
    const jobs = await Promise.all(
      [0, 1, 2, 3].map(async () =>
        json(
          stack.api('/v1/jobs', {
            base: limited,
            key,
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ process: false, conversion: [{ target: 'jpg' }] }),
          }),
        ),
      ),
    );
    // Two uploads whose bodies we hold open.
    const holders: { close: () => void; done: Promise<Response> }[] = [];
    for (const job of jobs.slice(0, 2)) {
      let controller!: ReadableStreamDefaultController<Uint8Array>;
      const body = new ReadableStream<Uint8Array>({
        start: (c) => {
          controller = c;
        },
      });
      controller.enqueue(new Uint8Array(png.subarray(0, 10)));
      const done = fetch(`${limited}/v1/jobs/${job.id}/upload`, {
        method: 'POST',
        headers: { 'X-Api-Key': key, 'X-File-Name': 'dot.png' },
        body,
        duplex: 'half',
      } as RequestInit);
      holders.push({
        close: () => {
          controller.enqueue(new Uint8Array(png.subarray(10)));
          controller.close();
        },
        done,
      });
    }
    // Both held uploads are inside their slots once each has claimed its job's input.
    await waitFor('both held uploads to be admitted', async () => {
      for (const job of jobs.slice(0, 2)) {
        const view = await json(stack.api(`/v1/jobs/${job.id}`, { base: limited, key }));
        if (!view.input.some((i: { status: string }) => i.status === 'uploading')) return false;
      }
      return true;
    });
    const third = await fetch(`${limited}/v1/jobs/${jobs[2].id}/upload`, {
      method: 'POST',
      headers: { 'X-Api-Key': key, 'X-File-Name': 'dot.png' },
      body: png,
    });
    expect(third.status).toBe(429);
    expect((await json(third)).error.code).toBe('rate_limited');
    holders[0].close();
    expect((await holders[0].done).status).toBe(201);
    const fourth = await fetch(`${limited}/v1/jobs/${jobs[3].id}/upload`, {
      method: 'POST',
      headers: { 'X-Api-Key': key, 'X-File-Name': 'dot.png' },
      body: png,
    });
    expect(fourth.status).toBe(201);
    holders[1].close();
    expect((await holders[1].done).status).toBe(201);
  });

  it("one key's long backlog does not starve another key's single job", async () => {
    // bmp goes through ffmpeg (a process start per unit, ~70 ms): slow enough for a backlog to build.
    const submit = async (key: string, process: boolean) => {
      const job = await json(
        stack.api('/v1/jobs', {
          key,
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ process, conversion: [{ target: 'bmp' }] }),
        }),
      );
      const up = await stack.api(`/v1/jobs/${job.id}/upload`, {
        key,
        method: 'POST',
        headers: { 'X-File-Name': 'dot.png' },
        body: png,
      });
      expect(up.status).toBe(201);
      return job.id as string;
    };
    const busy: string[] = [];
    for (let i = 0; i < 30; i++) busy.push(await submit(stack.apiKey, false));
    // The whole backlog is queued at once (a converter keeps up with jobs submitted one by one)…
    const started = await Promise.all(
      busy.map((id) =>
        stack.api(`/v1/jobs/${id}`, {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ process: true }),
        }),
      ),
    );
    expect(started.map((r) => r.status)).toEqual(Array(30).fill(200));
    // …and the other key's single job comes after it.
    const single = await submit(stack.otherKey, true);
    const finishedAt = async (id: string) => {
      const j = await json(stack.api(`/v1/jobs/${id}`, { key: id === single ? stack.otherKey : stack.apiKey }));
      return j.status.code === 'completed' ? Date.parse(j.finished_at) : undefined;
    };
    const singleAt = await waitFor('the single job', () => finishedAt(single), 120_000);
    const busyAt = await waitFor(
      'the backlog',
      async () => {
        const all = await Promise.all(busy.map(finishedAt));
        return all.every((t) => t !== undefined) ? (all as number[]) : undefined;
      },
      180_000,
    );
    const after = busyAt.filter((t) => t > singleAt).length;
    // Submitted last, it ran within the first few: most of the other key's backlog finished after it.
    expect(after).toBeGreaterThanOrEqual(10);
  });
});
