import { randomUUID } from 'node:crypto';
import { Prisma, type PrismaClient } from './prisma';

/** How long an answer is replayed; after it the key starts afresh (and the assembler deletes the row). */
export const IDEMPOTENCY_REPLAY_SECONDS = 24 * 3600;
/** A `running` claim older than this belongs to a gateway that died mid-request: the next request takes it over. */
export const IDEMPOTENCY_STALE_CLAIM_SECONDS = 60;

/** The first answer to a key: what is replayed. */
export interface StoredAnswer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

/** What the ledger says of a request with an Idempotency-Key. */
export type ClaimOutcome =
  /** This request runs; it stores its answer (complete) or gives the key back (release) with this claim. */
  | { kind: 'claimed'; claim: string }
  /** The same key was used with another method, path or body. */
  | { kind: 'mismatch' }
  /** The first request with this key and body has not answered yet. */
  | { kind: 'running' }
  /** The first answer, to replay. */
  | { kind: 'done'; answer: StoredAnswer };

interface Row {
  fingerprint: string;
  claim: string;
  state: string;
  status: number | null;
  body: unknown;
  headers: unknown;
}

/**
 * The Idempotency-Key ledger in PostgreSQL (table idempotency_keys, primary key (owner, key)), so every
 * gateway replica sees the same claims. One statement claims a key: it inserts the row, or takes over
 * one past its 24 h or a stale `running` claim of the same body; otherwise the row as it is decides.
 */
export class IdempotencyStore {
  constructor(private readonly prisma: PrismaClient) {}

  async claim(owner: string, key: string, fingerprint: string): Promise<ClaimOutcome> {
    // A row read as gone (its claim was released in between) is claimed again: a few rounds at most.
    for (let round = 0; round < 5; round++) {
      const claim = randomUUID();
      const taken = await this.prisma.$queryRaw<{ claim: string }[]>`
        INSERT INTO idempotency_keys (owner_key_hash, key, fingerprint, claim, state, created_at, claimed_at)
        VALUES (${owner}, ${key}, ${fingerprint}, ${claim}::uuid, 'running', now(), now())
        ON CONFLICT (owner_key_hash, key) DO UPDATE
          SET fingerprint = EXCLUDED.fingerprint, claim = EXCLUDED.claim, state = 'running',
              status = NULL, body = NULL, headers = NULL, created_at = now(), claimed_at = now()
          WHERE idempotency_keys.created_at <= now() - make_interval(secs => ${IDEMPOTENCY_REPLAY_SECONDS})
             OR (idempotency_keys.state = 'running'
                 AND idempotency_keys.fingerprint = EXCLUDED.fingerprint
                 AND idempotency_keys.claimed_at <= now() - make_interval(secs => ${IDEMPOTENCY_STALE_CLAIM_SECONDS}))
        RETURNING claim::text AS claim`;
      if (taken.length) return { kind: 'claimed', claim };
      const [row] = await this.prisma.$queryRaw<Row[]>`
        SELECT fingerprint, claim::text AS claim, state, status, body, headers
        FROM idempotency_keys WHERE owner_key_hash = ${owner} AND key = ${key}`;
      if (!row) continue;
      if (row.fingerprint !== fingerprint) return { kind: 'mismatch' };
      if (row.state !== 'done') return { kind: 'running' };
      return {
        kind: 'done',
        answer: { status: row.status ?? 200, body: row.body, headers: (row.headers ?? {}) as Record<string, string> },
      };
    }
    return { kind: 'running' };
  }

  /** Stores the first answer under the claim (a claim taken over in the meantime is left alone). */
  async complete(owner: string, key: string, claim: string, answer: StoredAnswer): Promise<boolean> {
    const { count } = await this.prisma.idempotencyKey.updateMany({
      where: { ownerKeyHash: owner, key, claim, state: 'running' },
      data: {
        state: 'done',
        status: answer.status,
        body:
          answer.body === undefined || answer.body === null ? Prisma.JsonNull : (answer.body as Prisma.InputJsonValue),
        headers: answer.headers,
      },
    });
    return count === 1;
  }

  /** Deletes the rows past their 24 h (the assembler's expire-jobs task); a key is replaced on use after it anyway. */
  async sweep(now = new Date()): Promise<number> {
    const { count } = await this.prisma.idempotencyKey.deleteMany({
      where: { createdAt: { lte: new Date(now.getTime() - IDEMPOTENCY_REPLAY_SECONDS * 1000) } },
    });
    return count;
  }

  /** Gives the key back (the request failed on our side): a retry with it runs again. */
  async release(owner: string, key: string, claim: string): Promise<void> {
    await this.prisma.idempotencyKey.deleteMany({ where: { ownerKeyHash: owner, key, claim, state: 'running' } });
  }
}
