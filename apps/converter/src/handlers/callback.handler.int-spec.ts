/**
 * The callback handler against real PostgreSQL (a cloned test database, the outbox and the attempt
 * rows are real): a receiver in this process answers each POST with the status a test chooses;
 * storage is the in-memory ObjectStore (no output is signed here). The queue is not involved: the
 * handler's attempt numbers and finality come from the outbox, not from BullMQ.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig, type KilnConfig } from '@kiln/config';
import type { PayloadOf } from '@kiln/contracts';
import { createPrismaClient, type PrismaClient } from '@kiln/database';
import { createTestDatabase, seedJobRow, type TestDatabase } from '@kiln/database/testing';
import { KilnMetrics, createLogger } from '@kiln/observability';
import { noQueue as noQueueFor } from '@kiln/queue/testing';
import { InMemoryObjectStore } from '@kiln/storage/testing';
import { JobLifecycle, deliveryIdFor } from '@kiln/workflow';
import { verifyCallback } from '@kiln/outbound-http';
import { CallbackHandler } from './callback.handler';

jest.setTimeout(30_000);

const SECRET = 'whsec_0123456789abcdef';
const ATTEMPTS = 2;

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

const noQueue = noQueueFor('the callback handler');

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
let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  db = await createTestDatabase();
  prisma = createPrismaClient({ url: db.url, poolSize: 4 });
});
afterAll(async () => {
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  await prisma?.$disconnect();
  await db?.drop();
});
beforeEach(() => (received.length = 0));

/** A completed job with `callback`, its delivery pending in the outbox (as finalize leaves it). */
async function completedJob(callback: string | null): Promise<PayloadOf<'callback'>> {
  const jobId = await seedJobRow(prisma, { status: 'completed', callback, progress: 100, finishedAt: new Date() });
  const deliveryId = deliveryIdFor(jobId, 'job.completed');
  await prisma.delivery.create({ data: { deliveryId, jobId, event: 'job.completed' } });
  return { jobId, event: 'job.completed', deliveryId };
}

function setup(allowPrivate = true) {
  const metrics = new KilnMetrics({ app: 'converter-test' });
  const handler = new CallbackHandler(
    prisma,
    new InMemoryObjectStore(),
    config(allowPrivate),
    createLogger('callback-test', 'silent'),
    new JobLifecycle(prisma, noQueue, { attempts: ATTEMPTS, backoffMs: 1 }),
    metrics,
  );
  const outcomes = async () => (await metrics.callbackAttempts.get()).values.map((v) => v.labels.outcome);
  return { handler, outcomes };
}

async function ledger(p: PayloadOf<'callback'>) {
  const [delivery, attempts, job] = await Promise.all([
    prisma.delivery.findUniqueOrThrow({ where: { deliveryId: p.deliveryId } }),
    prisma.callbackDelivery.findMany({ where: { deliveryId: p.deliveryId }, orderBy: { attempt: 'asc' } }),
    prisma.job.findUniqueOrThrow({ where: { id: p.jobId }, select: { errors: true } }),
  ]);
  return {
    state: delivery.state,
    attempts: delivery.attempts,
    rows: attempts.map((a) => [a.attempt, a.statusCode]),
    errors: job.errors as { code: string; message: string; source: string }[],
  };
}

describe('CallbackHandler: one signed POST per attempt, the answer decides, the outbox counts', () => {
  it('2xx is delivered: the Job JSON, signed, with event, delivery id and attempt; the outbox holds it delivered', async () => {
    const p = await completedJob(url);
    const { handler, outcomes } = setup();
    status = 204;
    expect(await handler.handle(p)).toEqual({ status: 'success', detail: 'delivered (204)' });
    const [{ headers, body }] = received;
    expect(JSON.parse(body)).toMatchObject({ id: p.jobId, status: { code: 'completed' } });
    expect(headers['x-kiln-event']).toBe('job.completed');
    expect(headers['x-kiln-delivery']).toBe(p.deliveryId);
    expect(headers['x-kiln-attempt']).toBe('1');
    expect(verifyCallback(SECRET, body, String(headers['x-kiln-signature']))).toBe(true);
    expect(await ledger(p)).toEqual({ state: 'delivered', attempts: 1, rows: [[1, 204]], errors: [] });
    expect(await outcomes()).toEqual(['delivered']);
  });

  it('a delivery the outbox holds as delivered is not sent again (a replay after Redis lost its completion)', async () => {
    const p = await completedJob(url);
    const { handler } = setup();
    status = 200;
    expect(await handler.handle(p)).toEqual({ status: 'success', detail: 'delivered (200)' });
    expect(await handler.handle(p)).toEqual({ status: 'skipped', reason: 'already delivered (after 1 attempts)' });
    expect(received).toHaveLength(1);
    expect(await ledger(p)).toMatchObject({ state: 'delivered', attempts: 1, rows: [[1, 200]] });
  });

  it.each([500, 503, 408, 429])(
    '%i is retried (thrown) while the outbox has attempts left, then final and noted on the job',
    async (code) => {
      const p = await completedJob(url);
      const { handler, outcomes } = setup();
      status = code;
      await expect(handler.handle(p)).rejects.toThrow(`callback not delivered: answered ${code}; will retry`);
      expect((await ledger(p)).state).toBe('pending');
      // The second run may be BullMQ's retry or the reconciler's resume: the outbox numbers it 2, the last.
      expect(await handler.handle(p)).toEqual({
        status: 'failed',
        code: 'callback_failed',
        message: `answered ${code}`,
      });
      expect(await handler.handle(p)).toEqual({ status: 'skipped', reason: 'already failed (after 2 attempts)' });
      expect(received.map((r) => r.headers['x-kiln-attempt'])).toEqual(['1', '2']);
      expect(received.map((r) => r.headers['x-kiln-delivery'])).toEqual([p.deliveryId, p.deliveryId]);
      expect(await ledger(p)).toEqual({
        state: 'failed',
        attempts: 2,
        rows: [
          [1, code],
          [2, code],
        ],
        errors: [
          { code: 'callback_failed', message: `job.completed: not delivered: answered ${code}`, source: 'callback' },
        ],
      });
      expect((await outcomes()).sort()).toEqual(['failed', 'retry']);
    },
  );

  it.each([400, 401, 404, 302])('%i is final at once: not retried, noted on the job', async (code) => {
    const p = await completedJob(url);
    const { handler } = setup();
    status = code;
    expect(await handler.handle(p)).toEqual({ status: 'failed', code: 'callback_failed', message: `answered ${code}` });
    expect(await ledger(p)).toEqual({
      state: 'failed',
      attempts: 1,
      rows: [[1, code]],
      errors: [
        { code: 'callback_failed', message: `job.completed: not delivered: answered ${code}`, source: 'callback' },
      ],
    });
  });

  it('410 Gone is final and noted as such', async () => {
    const p = await completedJob(url);
    const { handler } = setup();
    status = 410;
    expect(await handler.handle(p)).toMatchObject({ status: 'failed', message: 'answered 410' });
    expect((await ledger(p)).errors).toEqual([
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
    const p = await completedJob(`http://127.0.0.1:${port}/hook`);
    const { handler } = setup();
    await expect(handler.handle(p)).rejects.toThrow(/will retry/);
    const row = await prisma.callbackDelivery.findFirstOrThrow({ where: { deliveryId: p.deliveryId } });
    expect(row).toMatchObject({ attempt: 1, statusCode: null, error: expect.stringMatching(/ECONNREFUSED/) });
    expect((await ledger(p)).state).toBe('pending');
  });

  it('a private address refused by the guard is final (never retried) and counted as refused', async () => {
    const p = await completedJob(url);
    const { handler, outcomes } = setup(false);
    expect(await handler.handle(p)).toMatchObject({ status: 'failed', code: 'callback_failed' });
    expect(received).toEqual([]);
    expect(await ledger(p)).toMatchObject({ state: 'failed', attempts: 1, rows: [[1, null]] });
    expect((await ledger(p)).errors).toHaveLength(1);
    expect(await outcomes()).toEqual(['refused']);
  });

  it('a delivery queued before the outbox existed gets its row on its first attempt', async () => {
    const p = await completedJob(url);
    await prisma.delivery.delete({ where: { deliveryId: p.deliveryId } });
    const { handler } = setup();
    status = 200;
    expect(await handler.handle(p)).toEqual({ status: 'success', detail: 'delivered (200)' });
    expect(await ledger(p)).toMatchObject({ state: 'delivered', attempts: 1 });
  });

  it('skips a job without a callback URL, and a job that no longer exists', async () => {
    const p = await completedJob(null);
    const { handler } = setup();
    expect(await handler.handle(p)).toEqual({ status: 'skipped', reason: 'no callback URL' });
    expect(await handler.handle({ ...p, jobId: '00000000-0000-4000-8000-000000000000' })).toEqual({
      status: 'skipped',
      reason: 'no callback URL',
    });
    expect(await prisma.callbackDelivery.count({ where: { deliveryId: p.deliveryId } })).toBe(0);
    // Nothing is left pending for the reconciler to send again.
    expect(await prisma.delivery.count({ where: { deliveryId: p.deliveryId, state: 'pending' } })).toBe(0);
    expect(received).toEqual([]);
  });
});
