// What a running stack recorded about a job's callbacks and outputs, read from its PostgreSQL
// database and S3 bucket (the things themselves, not the API's view of them).
import { createHash } from 'node:crypto';
import { Client } from 'pg';
import type { MinioObjectStore } from '../../libs/storage/src/minio-object-store';
import type { Stack } from '../stack';
import { untilQueuesIdle } from './queues';

/** A client on the stack's own database (ended by the caller). */
export async function databaseOf(stack: Stack): Promise<Client> {
  const db = new Client({ connectionString: stack.db.url });
  db.on('error', () => undefined); // the database is dropped with the stack
  await db.connect();
  return db;
}

/** One row of callback_deliveries: one attempt to send one event. */
export interface AttemptRow {
  delivery_id: string;
  event: string;
  attempt: number;
  status_code: number | null;
  error: string | null;
}

/** Every recorded callback attempt of a job, in attempt order. */
export async function attemptRows(db: Client, jobId: string): Promise<AttemptRow[]> {
  const { rows } = await db.query<AttemptRow>(
    `SELECT delivery_id, event, attempt, status_code, error FROM callback_deliveries
      WHERE job_id = $1 ORDER BY event, attempt`,
    [jobId],
  );
  return rows;
}

/** One row of the outbox (deliveries): one event of a job, its state and how many attempts it took. */
export interface OutboxRow {
  delivery_id: string;
  event: string;
  state: string;
  attempts: number;
}

export async function outboxRows(db: Client, jobId: string): Promise<OutboxRow[]> {
  const { rows } = await db.query<OutboxRow>(
    'SELECT delivery_id, event, state, attempts FROM deliveries WHERE job_id = $1 ORDER BY event',
    [jobId],
  );
  return rows;
}

/**
 * Waits until nothing more can be sent for the job: no callback or finalize work left in the
 * queues and no delivery of the job still pending in the outbox; `also` must hold too.
 */
export async function untilDeliveriesSettled(
  stack: Stack,
  db: Client,
  jobId: string,
  also: () => boolean | Promise<boolean> = () => true,
  timeoutMs = 60_000,
): Promise<void> {
  await untilQueuesIdle(
    stack.env.REDIS_URL,
    stack.env.KILN_QUEUE_PREFIX,
    ['finalize', 'callback'],
    `the callbacks of job ${jobId} to settle`,
    async () => (await outboxRows(db, jobId)).every((r) => r.state !== 'pending') && (await also()),
    timeoutMs,
  );
}

/** The job's units of work (outputs rows), with the claims they took. */
export async function outputRows(
  db: Client,
  jobId: string,
): Promise<
  { id: string; status: string; attempt: number; object_key: string | null; checksum_sha256: string | null }[]
> {
  const { rows } = await db.query(
    'SELECT id, status, attempt, object_key, checksum_sha256 FROM outputs WHERE job_id = $1 ORDER BY created_at',
    [jobId],
  );
  return rows;
}

/** The sha256 (hex) of a stored object, read as a stream. */
export async function sha256Of(store: MinioObjectStore, key: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const piece of await store.get(key)) hash.update(piece as Buffer);
  return hash.digest('hex');
}
