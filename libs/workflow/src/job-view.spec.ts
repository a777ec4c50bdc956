/**
 * When a job's data expires, as the view shows it, and the download URLs signed for its outputs: the
 * real S3 adapter signs them (signing needs no server), and the test reads the expiry they carry.
 */
import { randomUUID } from 'node:crypto';
import type { Output } from '@kiln/database';
import { MinioObjectStore } from '@kiln/storage';
import { type JobRetention, type JobWithChildren, jobDataExpiry, jobView, outputUrlSigner } from './job-view';

const HOUR = 3600;
const DAY = 24 * HOUR;
const store = new MinioObjectStore({
  endpoint: 'http://127.0.0.1:9',
  accessKey: 'access-key',
  secretKey: 'secret-key-0123456789',
  bucket: 'kiln-view',
});

const job = (over: Partial<JobRetention> = {}): JobRetention => ({
  status: 'completed',
  finishedAt: new Date(),
  expiresAt: null,
  keepData: false,
  ...over,
});
const output = { id: randomUUID(), objectKey: 'outputs/x/y/0/a.mp3', filename: 'a.mp3', contentType: null } as Output;

/** The lifetime in seconds a presigned URL carries (X-Amz-Expires). */
const lifetime = (url: string) => Number(new URL(url).searchParams.get('X-Amz-Expires'));

describe('jobDataExpiry', () => {
  const ended = new Date('2026-06-01T12:00:00Z');

  it('is the end + the retention for an ended job without its own expires_at', () => {
    for (const status of ['completed', 'failed', 'canceled'])
      expect(jobDataExpiry(job({ status, finishedAt: ended }), DAY)).toEqual(new Date('2026-06-02T12:00:00Z'));
  });

  it('is the job’s own expires_at when it has one, running or ended', () => {
    const own = new Date('2026-06-01T12:05:00Z');
    expect(jobDataExpiry(job({ status: 'processing', finishedAt: null, expiresAt: own }), DAY)).toEqual(own);
    expect(jobDataExpiry(job({ finishedAt: ended, expiresAt: own }), DAY)).toEqual(own);
  });

  it('is unknown (null) while a job without one runs, or is being canceled', () => {
    for (const status of ['incomplete', 'queued', 'downloading', 'processing', 'canceling'])
      expect(jobDataExpiry(job({ status, finishedAt: null }), DAY)).toBeNull();
  });

  it('is never (null) for a kept job', () => {
    expect(jobDataExpiry(job({ keepData: true, finishedAt: ended }), DAY)).toBeNull();
  });
});

describe('outputUrlSigner: a download URL never outlives the data', () => {
  it('lives the configured TTL when the data outlives it', async () => {
    const sign = outputUrlSigner(store, 6 * HOUR, DAY);
    expect(lifetime(await sign(output, job()))).toBe(6 * HOUR);
    expect(lifetime(await sign(output, job({ keepData: true })))).toBe(6 * HOUR);
  });

  it('lives only until the job’s data expires when that comes first', async () => {
    const sign = outputUrlSigner(store, 6 * HOUR, DAY);
    const url = await sign(output, job({ expiresAt: new Date(Date.now() + 90_000) }));
    expect(lifetime(url)).toBeGreaterThanOrEqual(88);
    expect(lifetime(url)).toBeLessThanOrEqual(90);
    // An ended job whose retention runs out in 10 minutes.
    const ending = job({ finishedAt: new Date(Date.now() - DAY * 1000 + 600_000) });
    expect(lifetime(await sign(output, ending))).toBeLessThanOrEqual(600);
    expect(lifetime(await sign(output, ending))).toBeGreaterThanOrEqual(598);
  });

  it('lives at most the retention for a running job without its own expires_at', async () => {
    const sign = outputUrlSigner(store, 6 * HOUR, HOUR);
    expect(lifetime(await sign(output, job({ status: 'processing', finishedAt: null })))).toBe(HOUR);
  });

  it('lives 1 s once the data is past its expiry but not deleted yet', async () => {
    const sign = outputUrlSigner(store, 6 * HOUR, DAY);
    expect(lifetime(await sign(output, job({ expiresAt: new Date(Date.now() - 5_000) })))).toBe(1);
  });
});

describe('jobView: expires_at', () => {
  const base = {
    id: randomUUID(),
    ownerKeyHash: 'a'.repeat(64),
    token: 'b'.repeat(32),
    status: 'completed',
    statusInfo: '',
    process: true,
    callback: null,
    tag: null,
    progress: 100,
    errors: [],
    createdAt: new Date('2026-06-01T11:00:00Z'),
    modifiedAt: new Date('2026-06-01T12:00:00Z'),
    startedAt: new Date('2026-06-01T11:00:01Z'),
    finishedAt: new Date('2026-06-01T12:00:00Z'),
    expiresAt: null,
    keepData: false,
    inputs: [],
    conversions: [],
    outputs: [],
  } as unknown as JobWithChildren;
  const sign = outputUrlSigner(store, 6 * HOUR, 2 * HOUR);

  it('is an ISO time like the other times: the end + the retention, or the job’s own', async () => {
    expect((await jobView(base, sign)).expires_at).toBe('2026-06-01T14:00:00.000Z');
    const own = { ...base, expiresAt: new Date('2026-07-01T00:00:00Z') };
    expect((await jobView(own, sign)).expires_at).toBe('2026-07-01T00:00:00.000Z');
  });

  it('is null while unknown or when kept', async () => {
    expect((await jobView({ ...base, status: 'processing', finishedAt: null }, sign)).expires_at).toBeNull();
    expect((await jobView({ ...base, keepData: true }, sign)).expires_at).toBeNull();
  });
});
