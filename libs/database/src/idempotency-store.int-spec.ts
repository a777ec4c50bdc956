import { randomUUID } from 'node:crypto';
import { IdempotencyStore, type StoredAnswer } from './idempotency-store';
import { createPrismaClient, type PrismaClient } from './prisma';
import { createTestDatabase, type TestDatabase } from './testing/test-database';

const OWNER = 'a'.repeat(64);
const OTHER_OWNER = 'b'.repeat(64);
const FP = '1'.repeat(64);
const OTHER_FP = '2'.repeat(64);
const ANSWER: StoredAnswer = { status: 201, body: { id: 'job-1', nested: { n: 1 } }, headers: { Location: '/x' } };

describe('IdempotencyStore (PostgreSQL ledger shared by replicas)', () => {
  let db: TestDatabase;
  // Two clients with their own pools stand for two gateway replicas.
  let replicaA: PrismaClient;
  let replicaB: PrismaClient;
  let a: IdempotencyStore;
  let b: IdempotencyStore;

  beforeAll(async () => {
    db = await createTestDatabase();
    replicaA = createPrismaClient({ url: db.url, poolSize: 5 });
    replicaB = createPrismaClient({ url: db.url, poolSize: 5 });
    a = new IdempotencyStore(replicaA);
    b = new IdempotencyStore(replicaB);
  });
  afterAll(async () => {
    await replicaA?.$disconnect();
    await replicaB?.$disconnect();
    await db?.drop();
  });

  const rows = (key: string) => replicaA.idempotencyKey.findMany({ where: { key } });

  it('one of many concurrent claims on two replicas wins; the others see it running, then its answer', async () => {
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).claim(OWNER, 'race', FP)));
    const claimed = outcomes.filter((o) => o.kind === 'claimed');
    expect(claimed).toHaveLength(1);
    expect(outcomes.filter((o) => o.kind === 'running')).toHaveLength(19);
    expect(await rows('race')).toHaveLength(1);

    const claim = (claimed[0] as { claim: string }).claim;
    expect(await b.complete(OWNER, 'race', claim, ANSWER)).toBe(true);
    expect(await a.claim(OWNER, 'race', FP)).toEqual({ kind: 'done', answer: ANSWER });
    expect(await b.claim(OWNER, 'race', FP)).toEqual({ kind: 'done', answer: ANSWER });
    // Another body under the key, while running or once done: a mismatch.
    expect(await a.claim(OWNER, 'race', OTHER_FP)).toEqual({ kind: 'mismatch' });
    const [row] = await rows('race');
    expect(row).toMatchObject({ state: 'done', status: 201, fingerprint: FP, body: ANSWER.body });
  });

  it('a mismatch while the first runs; a released key runs again; a null body is stored as such', async () => {
    const first = await a.claim(OWNER, 'released', FP);
    expect(first.kind).toBe('claimed');
    expect(await b.claim(OWNER, 'released', OTHER_FP)).toEqual({ kind: 'mismatch' });
    await a.release(OWNER, 'released', (first as { claim: string }).claim);
    expect(await rows('released')).toHaveLength(0);

    const second = await b.claim(OWNER, 'released', OTHER_FP);
    expect(second.kind).toBe('claimed');
    const empty: StoredAnswer = { status: 204, body: null, headers: {} };
    expect(await b.complete(OWNER, 'released', (second as { claim: string }).claim, empty)).toBe(true);
    expect(await a.claim(OWNER, 'released', OTHER_FP)).toEqual({ kind: 'done', answer: empty });
  });

  it('keys are per owner', async () => {
    const mine = await a.claim(OWNER, 'shared-key', FP);
    const theirs = await b.claim(OTHER_OWNER, 'shared-key', OTHER_FP);
    expect(mine.kind).toBe('claimed');
    expect(theirs.kind).toBe('claimed');
    expect(await rows('shared-key')).toHaveLength(2);
  });

  it('a stale running claim (a replica died) is taken over by the same body; the old claim can no longer store', async () => {
    const dead = (await a.claim(OWNER, 'stale', FP)) as { kind: 'claimed'; claim: string };
    // Just under a minute: still the first request's.
    await replicaA.$executeRaw`UPDATE idempotency_keys SET claimed_at = now() - interval '50 seconds' WHERE key = 'stale'`;
    expect(await b.claim(OWNER, 'stale', FP)).toEqual({ kind: 'running' });
    await replicaA.$executeRaw`UPDATE idempotency_keys SET claimed_at = now() - interval '61 seconds' WHERE key = 'stale'`;
    expect(await b.claim(OWNER, 'stale', OTHER_FP)).toEqual({ kind: 'mismatch' });
    const next = await b.claim(OWNER, 'stale', FP);
    expect(next.kind).toBe('claimed');
    expect((next as { claim: string }).claim).not.toBe(dead.claim);
    // The dead request's late answer or release changes nothing; the new claim's answer is kept.
    expect(await a.complete(OWNER, 'stale', dead.claim, { status: 201, body: { id: 'late' }, headers: {} })).toBe(
      false,
    );
    await a.release(OWNER, 'stale', dead.claim);
    expect(await rows('stale')).toHaveLength(1);
    expect(await b.complete(OWNER, 'stale', (next as { claim: string }).claim, ANSWER)).toBe(true);
    expect(await a.claim(OWNER, 'stale', FP)).toEqual({ kind: 'done', answer: ANSWER });
  });

  it('after 24 h a key starts afresh (any body), and sweep deletes only rows past 24 h', async () => {
    const old = (await a.claim(OWNER, 'old', FP)) as { kind: 'claimed'; claim: string };
    await a.complete(OWNER, 'old', old.claim, ANSWER);
    await replicaA.$executeRaw`UPDATE idempotency_keys SET created_at = now() - interval '23 hours' WHERE key = 'old'`;
    expect(await b.claim(OWNER, 'old', OTHER_FP)).toEqual({ kind: 'mismatch' });
    await replicaA.$executeRaw`UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'`;
    const fresh = await b.claim(OWNER, 'old', OTHER_FP);
    expect(fresh.kind).toBe('claimed');
    expect(await rows('old')).toMatchObject([{ state: 'running', fingerprint: OTHER_FP, status: null, body: null }]);

    await replicaA.idempotencyKey.create({
      data: { ownerKeyHash: OWNER, key: 'expired', fingerprint: FP, claim: randomUUID(), state: 'done' },
    });
    await replicaA.$executeRaw`UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'expired'`;
    const before = await replicaA.idempotencyKey.count();
    expect(await a.sweep()).toBe(1);
    expect(await replicaA.idempotencyKey.count()).toBe(before - 1);
    expect(await rows('expired')).toHaveLength(0);
    expect(await rows('old')).toHaveLength(1);
  });
});
