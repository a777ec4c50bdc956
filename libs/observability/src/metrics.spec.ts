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
    m.watchQueues(['convert', 'callback'], async (q) => {
      reads++;
      if (fail) throw new Error('redis down');
      return { waiting: q === 'convert' ? 3 : 0, active: 1, delayed: 0, failed: 2 };
    }, { cacheMs: 60_000, onError: () => undefined });
    const [a, b] = await Promise.all([m.scrape(), m.scrape()]);
    expect(a.body).toContain('kiln_queue_jobs{queue="convert",state="waiting",app="t"} 3');
    expect(a.body).toContain('kiln_queue_jobs{queue="callback",state="failed",app="t"} 2');
    const queueLines = (text: string) => text.split('\n').filter((l) => l.startsWith('kiln_queue_jobs{'));
    expect(queueLines(b.body)).toEqual(queueLines(a.body));
    expect(queueLines(a.body)).toHaveLength(8);
    expect(reads).toBe(2); // one read per queue, shared by both scrapes

    const errors: unknown[] = [];
    const broken = new KilnMetrics({ app: 't' });
    fail = true;
    broken.watchQueues(['convert'], async () => {
      throw new Error('redis down');
    }, { onError: (e) => errors.push(e) });
    const body = (await broken.scrape()).body;
    expect(body).not.toMatch(/^kiln_queue_jobs\{/m);
    expect(errors).toHaveLength(1);
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
    const read = cachedFor(1000, async () => ++reads, () => t);
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
