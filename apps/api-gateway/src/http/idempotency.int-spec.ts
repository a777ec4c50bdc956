/**
 * The interceptor against real PostgreSQL, around handlers that answer, refuse or fail: what is kept
 * (2xx, 4xx) is replayed without running the handler again; what is given back (5xx, unexpected
 * errors, 429) lets a retry run it again.
 */
import { randomUUID } from 'node:crypto';
import type { CallHandler, ExecutionContext } from '@nestjs/common';
import { firstValueFrom, from, type Observable } from 'rxjs';
import { KilnError } from '@kiln/contracts';
import { createPrismaClient, type PrismaClient } from '@kiln/database';
import { createTestDatabase, type TestDatabase } from '@kiln/database/testing';
import { createLogger } from '@kiln/observability';
import { IdempotencyInterceptor } from './idempotency';

const OWNER = 'c'.repeat(64);

interface FakeResponse {
  statusCode: number;
  headers: Record<string, string>;
  getHeader(name: string): string | undefined;
  set(h: Record<string, string>): FakeResponse;
  status(code: number): FakeResponse;
}

function exchange(key: string | undefined, body: unknown, path = '/v1/jobs') {
  const res: FakeResponse = {
    statusCode: 201,
    headers: {},
    getHeader: (name) => res.headers[name],
    set: (h) => {
      Object.assign(res.headers, h);
      return res;
    },
    status: (code) => {
      res.statusCode = code;
      return res;
    },
  };
  const req = {
    method: 'POST',
    path,
    headers: key === undefined ? {} : { 'idempotency-key': key },
    body,
    principal: { kind: 'key', ownerKeyHash: OWNER },
  };
  const context = {
    getType: () => 'http',
    switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }),
  } as unknown as ExecutionContext;
  return { context, res };
}

/** A handler that counts its runs and answers (or fails) as told. */
function handler(answer: () => Promise<unknown>) {
  const runs = { count: 0 };
  const next: CallHandler = {
    handle: (): Observable<unknown> => {
      runs.count++;
      return from(answer());
    },
  };
  return { next, runs };
}

describe('IdempotencyInterceptor (real PostgreSQL)', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  let interceptor: IdempotencyInterceptor;

  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrismaClient({ url: db.url, poolSize: 3 });
    interceptor = new IdempotencyInterceptor(prisma, createLogger('idempotency-test', 'silent'));
  });
  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  const run = async (key: string | undefined, body: unknown, next: CallHandler) => {
    const { context, res } = exchange(key, body);
    const value = await firstValueFrom(await interceptor.intercept(context, next));
    return { value, res };
  };
  const rejection = async (key: string, body: unknown, next: CallHandler) => {
    try {
      await run(key, body, next);
    } catch (err: unknown) {
      return err;
    }
    throw new Error('expected a refusal');
  };

  it('keeps a 2xx answer and replays it without running the handler again', async () => {
    const key = randomUUID();
    const { next, runs } = handler(async () => ({ id: 'job-1' }));
    const first = await run(key, { tag: 'a' }, next);
    expect(first.value).toEqual({ id: 'job-1' });
    expect(first.res.headers['Idempotent-Replayed']).toBeUndefined();
    const again = await run(key, { tag: 'a' }, next);
    expect(again.value).toEqual({ id: 'job-1' });
    expect(again.res.headers['Idempotent-Replayed']).toBe('true');
    expect(again.res.statusCode).toBe(201);
    expect(runs.count).toBe(1);
    expect(await prisma.idempotencyKey.findMany({ where: { key } })).toMatchObject([
      { state: 'done', status: 201, body: { id: 'job-1' } },
    ]);
    // Without the header nothing is stored and the handler runs each time.
    await run(undefined, { tag: 'a' }, next);
    expect(runs.count).toBe(2);
    expect(await prisma.idempotencyKey.count()).toBe(1);
  });

  it('keeps a 4xx and replays it as the same error, marked as a replay', async () => {
    const key = randomUUID();
    const refusal = new KilnError('not_found', 'No such job.', [{ field: 'id', message: 'unknown' }]);
    const { next, runs } = handler(async () => {
      throw refusal;
    });
    expect(await rejection(key, {}, next)).toBe(refusal);
    const replayed = await rejection(key, {}, next);
    expect(replayed).toBeInstanceOf(KilnError);
    expect(replayed).toMatchObject({
      code: 'not_found',
      status: 404,
      message: 'No such job.',
      details: [{ field: 'id', message: 'unknown' }],
      headers: { 'Idempotent-Replayed': 'true' },
    });
    expect(runs.count).toBe(1);
  });

  it.each([
    ['an unexpected error', () => new Error('boom')],
    ['a 503', () => new KilnError('unavailable', 'down', undefined, { 'Retry-After': '5' })],
    ['a 429', () => new KilnError('rate_limited', 'slow down')],
  ])('gives the key back after %s: a retry runs the handler again', async (_what, failure) => {
    const key = randomUUID();
    let fail = true;
    const { next, runs } = handler(async () => {
      if (fail) throw failure();
      return { id: 'second-try' };
    });
    await rejection(key, { n: 1 }, next);
    expect(await prisma.idempotencyKey.count({ where: { key } })).toBe(0);
    fail = false;
    expect((await run(key, { n: 1 }, next)).value).toEqual({ id: 'second-try' });
    expect(runs.count).toBe(2);
    expect(await prisma.idempotencyKey.findMany({ where: { key } })).toMatchObject([{ state: 'done' }]);
  });

  it('refuses another body (422) and a request while the first runs (409, Retry-After), running neither', async () => {
    const key = randomUUID();
    let finish!: (v: unknown) => void;
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const slow = handler(
      () =>
        new Promise((resolve) => {
          finish = resolve;
          started();
        }),
    );
    const pending = run(key, { tag: 'slow' }, slow.next);
    const other = handler(async () => ({ id: 'never' }));
    // The handler runs once its claim is written: wait for it to start, not for time.
    await running;
    expect(slow.runs.count).toBe(1);
    expect(await rejection(key, { tag: 'slow' }, other.next)).toMatchObject({
      code: 'conflict',
      status: 409,
      headers: { 'Retry-After': '1' },
    });
    expect(await rejection(key, { tag: 'else' }, other.next)).toMatchObject({
      code: 'idempotency_mismatch',
      status: 422,
    });
    finish({ id: 'slow-job' });
    expect((await pending).value).toEqual({ id: 'slow-job' });
    expect(other.runs.count).toBe(0);
    expect(await rejection(key, { tag: 'else' }, other.next)).toMatchObject({ code: 'idempotency_mismatch' });
  });
});
