import { KilnMetrics, cachedFor, metricsAuthorized } from './metrics';

describe('KilnMetrics', () => {
  it('exposes default process metrics with the kiln_ prefix and an app label', async () => {
    const m = new KilnMetrics({ app: 'test-app' });
    const { contentType, body } = await m.scrape();
    expect(contentType).toMatch(/^text\/plain/);
    expect(body).toMatch(/^kiln_process_resident_memory_bytes\{app="test-app"\} \d+/m);
    expect(body).toMatch(/^kiln_process_cpu_seconds_total\{app="test-app"\}/m);
    expect(body).toContain('# TYPE kiln_http_request_duration_seconds histogram');
  });

  it('reads queue counts on scrape, at most once per cache period, and leaves them out on failure', async () => {
    const m = new KilnMetrics({ app: 't' });
    let reads = 0;
    let fail = false;
    m.watchQueues(
      ['convert', 'callback'],
      async (q) => {
        reads++;
        if (fail) throw new Error('redis down');
        return {
          waiting: q === 'convert' ? 3 : 0,
          prioritized: q === 'convert' ? 4 : 0,
          active: 1,
          delayed: 0,
          failed: 2,
        };
      },
      { cacheMs: 60_000, onError: () => undefined },
    );
    const [a, b, depths] = await Promise.all([m.scrape(), m.scrape(), m.queueDepths()]);
    expect(a.body).toContain('kiln_queue_jobs{queue="convert",state="waiting",app="t"} 3');
    expect(a.body).toContain('kiln_queue_jobs{queue="convert",state="prioritized",app="t"} 4');
    expect(a.body).toContain('kiln_queue_jobs{queue="callback",state="failed",app="t"} 2');
    expect(a.body).toContain('kiln_queue_backlog{queue="convert",app="t"} 7');
    expect(a.body).toContain('kiln_queue_backlog{queue="callback",app="t"} 0');
    const queueLines = (text: string) => text.split('\n').filter((l) => /^kiln_queue_(jobs|backlog)\{/.test(l));
    expect(queueLines(b.body)).toEqual(queueLines(a.body));
    expect(queueLines(a.body)).toHaveLength(2 * 5 + 2);
    expect(depths).toEqual({
      convert: { waiting: 3, prioritized: 4, active: 1, delayed: 0, failed: 2, backlog: 7, demand: 8 },
      callback: { waiting: 0, prioritized: 0, active: 1, delayed: 0, failed: 2, backlog: 0, demand: 1 },
    });
    expect(reads).toBe(2); // one read per queue, shared by both scrapes and the depths

    const errors: unknown[] = [];
    const broken = new KilnMetrics({ app: 't' });
    fail = true;
    broken.watchQueues(
      ['convert'],
      async () => {
        throw new Error('redis down');
      },
      { onError: (e) => errors.push(e) },
    );
    const body = (await broken.scrape()).body;
    expect(body).not.toMatch(/^kiln_queue_(jobs|backlog)\{/m);
    expect(await broken.queueDepths()).toBeNull();
    expect(errors).toHaveLength(1);
    expect(await new KilnMetrics({ app: 't' }).queueDepths()).toBeNull();
  });

  it('gives up on a slow queue read', async () => {
    const m = new KilnMetrics({ app: 't' });
    m.watchQueues(['convert'], () => new Promise(() => undefined), { timeoutMs: 50 });
    const body = (await m.scrape()).body;
    expect(body).not.toMatch(/^kiln_queue_jobs\{/m);
  });

  it('reads the ffmpeg gauge from the given function and tracks uploads in progress', async () => {
    let n = 2;
    const m = new KilnMetrics({ app: 't', ffmpegProcesses: () => n });
    expect((await m.scrape()).body).toContain('kiln_ffmpeg_processes{app="t"} 2');
    n = 0;
    expect((await m.scrape()).body).toContain('kiln_ffmpeg_processes{app="t"} 0');

    let during = '';
    await m.trackUpload(async () => {
      during = (await m.scrape()).body;
    });
    expect(during).toContain('kiln_uploads_in_progress{app="t"} 1');
    await expect(m.trackUpload(async () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    expect((await m.scrape()).body).toContain('kiln_uploads_in_progress{app="t"} 0');
  });
});

describe('cachedFor', () => {
  it('shares a running read and reuses a settled one for the ttl', async () => {
    let t = 0;
    let reads = 0;
    const read = cachedFor(
      1000,
      async () => ++reads,
      () => t,
    );
    expect(await Promise.all([read(), read()])).toEqual([1, 1]);
    t = 999;
    expect(await read()).toBe(1);
    t = 1000;
    expect(await read()).toBe(2);
  });
});

describe('metricsAuthorized', () => {
  it('is open without a token and needs the exact Bearer token with one', () => {
    expect(metricsAuthorized(undefined, undefined)).toBe(true);
    expect(metricsAuthorized(undefined, 'metrics-token-0123456789')).toBe(false);
    expect(metricsAuthorized('Bearer wrong', 'metrics-token-0123456789')).toBe(false);
    expect(metricsAuthorized('Basic metrics-token-0123456789', 'metrics-token-0123456789')).toBe(false);
    expect(metricsAuthorized('Bearer metrics-token-0123456789', 'metrics-token-0123456789')).toBe(true);
    expect(metricsAuthorized('bearer  metrics-token-0123456789', 'metrics-token-0123456789')).toBe(true);
  });
});
