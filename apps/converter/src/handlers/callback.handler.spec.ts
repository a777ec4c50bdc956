/**
 * The callback handler without services: a receiver in this process answers each POST with the
 * status a test chooses, storage is the in-memory ObjectStore, the database a fake of the two calls
 * the handler makes (record an attempt, note a final failure on the job), the lifecycle a loader.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig, type KilnConfig } from '@kiln/config';
import type { PayloadOf } from '@kiln/contracts';
import type { PrismaClient } from '@kiln/database';
import { KilnMetrics, createLogger } from '@kiln/observability';
import type { HandlerContext } from '@kiln/queue';
import { InMemoryObjectStore } from '@kiln/storage/testing';
import type { JobLifecycle, JobWithChildren } from '@kiln/workflow';
import { verifyCallback } from '@kiln/outbound-http';
import { CallbackHandler } from './callback.handler';

const SECRET = 'whsec_0123456789abcdef';
const JOB_ID = '6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b';

function config(allowPrivate: boolean): KilnConfig {
  return parseConfig({
    KILN_API_KEYS: 'kiln_test_key_0123456789',
    KILN_WEBHOOK_SECRET: SECRET,
    DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/kiln',
    REDIS_URL: 'redis://127.0.0.1:6379',
    S3_ENDPOINT: 'http://127.0.0.1:7480',
    S3_ACCESS_KEY: 'access',
    S3_SECRET_KEY: 'secret',
    KILN_ALLOW_PRIVATE_URLS: String(allowPrivate),
    KILN_CALLBACK_TIMEOUT_MS: '2000',
  });
}

function jobRow(callback: string | null): JobWithChildren {
  const at = new Date('2026-06-01T12:00:00Z');
  return {
    id: JOB_ID,
    ownerKeyHash: 'a'.repeat(64),
    token: 'b'.repeat(32),
    status: 'completed',
    statusInfo: '',
    process: true,
    callback,
    tag: null,
    progress: 100,
    errors: [],
    createdAt: at,
    modifiedAt: at,
    startedAt: at,
    finishedAt: at,
    inputs: [],
    conversions: [],
    outputs: [],
  };
}

/** The two database calls of the handler, recorded. */
class FakeDatabase {
  readonly attempts: { deliveryId: string; attempt: number; statusCode: number | null; error: string | null }[] = [];
  readonly notes: unknown[] = [];
  readonly callbackDelivery = {
    findFirst: async ({ where }: { where: { deliveryId: string } }) =>
      this.attempts.find(
        (a) => a.deliveryId === where.deliveryId && a.statusCode !== null && a.statusCode >= 200 && a.statusCode < 300,
      ) ?? null,
    upsert: async ({
      create,
    }: {
      create: { deliveryId: string; attempt: number; statusCode: number | null; error: string | null };
    }) => {
      this.attempts.push({
        deliveryId: create.deliveryId,
        attempt: create.attempt,
        statusCode: create.statusCode,
        error: create.error,
      });
    },
  };
  async $executeRaw(_sql: TemplateStringsArray, ...values: unknown[]): Promise<number> {
    this.notes.push(...(JSON.parse(String(values[0])) as unknown[]));
    return 1;
  }
}

/** A receiver on a loopback port: answers with `status`, keeps what it was sent. */
let status = 200;
const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
const receiver = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    received.push({ headers: req.headers, body });
    res.writeHead(status).end();
  });
});
let url = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));
beforeEach(() => (received.length = 0));

function setup(callback: string | null, allowPrivate = true) {
  const db = new FakeDatabase();
  const metrics = new KilnMetrics({ app: 'converter-test' });
  const lifecycle: Pick<JobLifecycle, 'load'> = { load: async (id) => (id === JOB_ID ? jobRow(callback) : null) };
  const handler = new CallbackHandler(
    db as unknown as PrismaClient,
    new InMemoryObjectStore(),
    config(allowPrivate),
    createLogger('callback-test', 'silent'),
    lifecycle as JobLifecycle,
    metrics,
  );
  const outcomes = async () => (await metrics.callbackAttempts.get()).values.map((v) => v.labels.outcome);
  return { db, handler, outcomes };
}

const payload: PayloadOf<'callback'> = {
  jobId: JOB_ID,
  event: 'job.completed',
  deliveryId: '0f0e0d0c-0b0a-5908-8706-050403020100',
};
const attempt = (n: number, isLastAttempt = false) => ({ attempt: n, isLastAttempt }) as HandlerContext;

describe('CallbackHandler: one signed POST per attempt, the answer decides', () => {
  it('2xx is delivered: the Job JSON, signed, with event, delivery id and attempt; the attempt is recorded', async () => {
    const { db, handler, outcomes } = setup(url);
    status = 204;
    expect(await handler.handle(payload, attempt(1))).toEqual({ status: 'success', detail: 'delivered (204)' });
    const [{ headers, body }] = received;
    expect(JSON.parse(body)).toMatchObject({ id: JOB_ID, status: { code: 'completed' } });
    expect(headers['x-kiln-event']).toBe('job.completed');
    expect(headers['x-kiln-delivery']).toBe(payload.deliveryId);
    expect(headers['x-kiln-attempt']).toBe('1');
    expect(verifyCallback(SECRET, body, String(headers['x-kiln-signature']))).toBe(true);
    expect(db.attempts).toEqual([{ deliveryId: payload.deliveryId, attempt: 1, statusCode: 204, error: null }]);
    expect(db.notes).toEqual([]);
    expect(await outcomes()).toEqual(['delivered']);
  });

  it('a delivery the ledger already holds as received is not sent again (a replay after Redis lost its completion)', async () => {
    const { db, handler } = setup(url);
    status = 200;
    expect(await handler.handle(payload, attempt(1))).toEqual({ status: 'success', detail: 'delivered (200)' });
    // The same callback job runs once more (its completion was lost in a Redis failover).
    expect(await handler.handle(payload, attempt(2))).toEqual({
      status: 'skipped',
      reason: 'already delivered (attempt 1)',
    });
    expect(received).toHaveLength(1);
    expect(db.attempts.map((a) => [a.attempt, a.statusCode])).toEqual([[1, 200]]);
  });

  it.each([500, 503, 408, 429])(
    '%i is retried (thrown) while attempts remain, then final and noted on the job',
    async (code) => {
      const { db, handler, outcomes } = setup(url);
      status = code;
      await expect(handler.handle(payload, attempt(1))).rejects.toThrow(
        `callback not delivered: answered ${code}; will retry`,
      );
      expect(await handler.handle(payload, attempt(2, true))).toEqual({
        status: 'failed',
        code: 'callback_failed',
        message: `answered ${code}`,
      });
      expect(received.map((r) => r.headers['x-kiln-attempt'])).toEqual(['1', '2']);
      expect(received.map((r) => r.headers['x-kiln-delivery'])).toEqual([payload.deliveryId, payload.deliveryId]);
      expect(db.attempts.map((a) => [a.attempt, a.statusCode])).toEqual([
        [1, code],
        [2, code],
      ]);
      expect(db.notes).toEqual([
        { code: 'callback_failed', message: `job.completed: not delivered: answered ${code}`, source: 'callback' },
      ]);
      expect((await outcomes()).sort()).toEqual(['failed', 'retry']);
    },
  );

  it.each([400, 401, 404, 302])('%i is final at once: not retried, noted on the job', async (code) => {
    const { db, handler } = setup(url);
    status = code;
    expect(await handler.handle(payload, attempt(1))).toEqual({
      status: 'failed',
      code: 'callback_failed',
      message: `answered ${code}`,
    });
    expect(db.notes).toEqual([
      { code: 'callback_failed', message: `job.completed: not delivered: answered ${code}`, source: 'callback' },
    ]);
  });

  it('410 Gone is final and noted as such', async () => {
    const { db, handler } = setup(url);
    status = 410;
    expect(await handler.handle(payload, attempt(1))).toMatchObject({ status: 'failed', message: 'answered 410' });
    expect(db.notes).toEqual([
      {
        code: 'callback_failed',
        message: 'job.completed: the receiver answered 410 Gone; not retried',
        source: 'callback',
      },
    ]);
  });

  it('a network error (nothing listening) is retried, and recorded without a status code', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const { db, handler } = setup(`http://127.0.0.1:${port}/hook`);
    await expect(handler.handle(payload, attempt(1))).rejects.toThrow(/will retry/);
    expect(db.attempts).toMatchObject([{ attempt: 1, statusCode: null, error: expect.stringMatching(/ECONNREFUSED/) }]);
  });

  it('a private address refused by the guard is final (never retried) and counted as refused', async () => {
    const { db, handler, outcomes } = setup(url, false);
    const outcome = await handler.handle(payload, attempt(1));
    expect(outcome).toMatchObject({ status: 'failed', code: 'callback_failed' });
    expect(received).toEqual([]);
    expect(db.attempts).toMatchObject([{ statusCode: null }]);
    expect(db.notes).toHaveLength(1);
    expect(await outcomes()).toEqual(['refused']);
  });

  it('skips a job without a callback URL, and a job that no longer exists', async () => {
    const { db, handler } = setup(null);
    expect(await handler.handle(payload, attempt(1))).toEqual({ status: 'skipped', reason: 'no callback URL' });
    expect(await handler.handle({ ...payload, jobId: '00000000-0000-4000-8000-000000000000' }, attempt(1))).toEqual({
      status: 'skipped',
      reason: 'no callback URL',
    });
    expect(db.attempts).toEqual([]);
    expect(received).toEqual([]);
  });
});
