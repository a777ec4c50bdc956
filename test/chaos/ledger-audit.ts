// What a stack really did with each job after faults, read from the things themselves: the jobs,
// outputs, deliveries (outbox) and callback_deliveries rows of its PostgreSQL database, a listing
// of its S3 bucket, and the POSTs a callback receiver counted. `judge` names what is wrong with a
// job: stuck (not ended), duplicated outputs, duplicate or missing callbacks. Used by the outage
// e2e tests (which assert on the counts) and by the chaos run (which tabulates them).
import type { Client } from 'pg';
import type { MinioObjectStore } from '../../libs/storage/src/minio-object-store';
import type { CallbackReceiver } from '../callback-receiver';

/** Statuses a job never leaves. */
export const FINAL = ['completed', 'failed', 'canceled'];

export interface UnitRow {
  id: string;
  status: string;
  attempt: number;
  objectKey: string | null;
  checksum: string | null;
  error: string | null;
}

export interface DeliveryRow {
  deliveryId: string;
  event: string;
  state: string;
  attempts: number;
}

export interface JobLedger {
  id: string;
  status: string;
  errors: { code?: string; message?: string }[];
  units: UnitRow[];
  /** Keys listed in the bucket under outputs/<job>/. */
  outputObjects: string[];
  /** When each of them was written (S3 LastModified, ms). */
  outputWrittenAt: Record<string, number>;
  /** Keys listed in the bucket under inputs/<job>/. */
  inputObjects: number;
  /** The outbox rows (one per event that was decided). */
  deliveries: DeliveryRow[];
  /** callback_deliveries rows (attempts), and those answered 2xx. */
  attemptRows: number;
  okAttemptRows: number;
  /** POSTs the receiver got for this job: event and delivery id of each. */
  posts: { event: string; deliveryId: string }[];
}

/** Every job of the database (or only `ids`), with its units, objects, deliveries and received POSTs. */
export async function auditJobs(
  db: Client,
  store: MinioObjectStore,
  receiver: CallbackReceiver,
  ids?: string[],
): Promise<JobLedger[]> {
  const jobs = await db.query<{ id: string; status: string; errors: JobLedger['errors'] }>(
    `SELECT id, status, errors FROM jobs ${ids ? 'WHERE id = ANY($1::uuid[])' : ''} ORDER BY created_at`,
    ids ? [ids] : [],
  );
  const byJob = new Map<string, JobLedger>();
  for (const j of jobs.rows)
    byJob.set(j.id, {
      id: j.id,
      status: j.status,
      errors: Array.isArray(j.errors) ? j.errors : [],
      units: [],
      outputObjects: [],
      outputWrittenAt: {},
      inputObjects: 0,
      deliveries: [],
      attemptRows: 0,
      okAttemptRows: 0,
      posts: [],
    });
  const wanted = [...byJob.keys()];
  const units = await db.query(
    `SELECT job_id, id, status, attempt, object_key, checksum_sha256, error FROM outputs
      WHERE job_id = ANY($1::uuid[]) ORDER BY created_at`,
    [wanted],
  );
  for (const u of units.rows)
    byJob.get(u.job_id)?.units.push({
      id: u.id,
      status: u.status,
      attempt: u.attempt,
      objectKey: u.object_key,
      checksum: u.checksum_sha256,
      error: u.error,
    });
  const outbox = await db.query(
    'SELECT job_id, delivery_id, event, state, attempts FROM deliveries WHERE job_id = ANY($1::uuid[])',
    [wanted],
  );
  for (const d of outbox.rows)
    byJob.get(d.job_id)?.deliveries.push({
      deliveryId: d.delivery_id,
      event: d.event,
      state: d.state,
      attempts: d.attempts,
    });
  const attempts = await db.query(
    `SELECT job_id, COUNT(*)::int AS n, COUNT(*) FILTER (WHERE status_code BETWEEN 200 AND 299)::int AS ok
       FROM callback_deliveries WHERE job_id = ANY($1::uuid[]) GROUP BY job_id`,
    [wanted],
  );
  for (const a of attempts.rows) {
    const l = byJob.get(a.job_id);
    if (l) Object.assign(l, { attemptRows: a.n, okAttemptRows: a.ok });
  }
  for await (const o of store.list('outputs/')) {
    const l = byJob.get(o.key.split('/')[1]);
    if (!l) continue;
    l.outputObjects.push(o.key);
    if (o.lastModified) l.outputWrittenAt[o.key] = o.lastModified.getTime();
  }
  for await (const o of store.list('inputs/')) {
    const l = byJob.get(o.key.split('/')[1]);
    if (l) l.inputObjects++;
  }
  for (const r of receiver.received) {
    const l = byJob.get(r.json?.id);
    if (l) l.posts.push({ event: String(r.headers['x-kiln-event']), deliveryId: String(r.headers['x-kiln-delivery']) });
  }
  return [...byJob.values()];
}

export type Verdict = 'completed' | 'failed' | 'canceled' | 'stuck';

export interface Judgement {
  verdict: Verdict;
  /** A failed job names why (its errors carry a message). */
  failedWithReason: boolean;
  /** More objects under the job's outputs than completed units, or an object no row points at. */
  duplicatedOutputs: boolean;
  /** More than one delivery (event or delivery id) or more than one 2xx attempt for the job. */
  duplicateCallbacks: boolean;
  /** The same delivery POSTed more than once (at-least-once resends a receiver deduplicates by X-Kiln-Delivery). */
  resentPosts: number;
  /** Objects under the job's outputs no completed unit names (left by an attempt that lost or crashed). */
  strays: string[];
  /** Everything found wrong, in words. */
  problems: string[];
}

/** What is right and wrong with one job's ledger once nothing moves any more. */
export function judge(l: JobLedger): Judgement {
  const problems: string[] = [];
  const verdict: Verdict = FINAL.includes(l.status) ? (l.status as Verdict) : 'stuck';
  if (verdict === 'stuck') problems.push(`status ${l.status}`);
  const completed = l.units.filter((u) => u.status === 'completed');
  const pointed = new Set(completed.map((u) => u.objectKey));
  const strays = l.outputObjects.filter((k) => !pointed.has(k));
  const duplicatedOutputs = l.outputObjects.length > completed.length || (verdict !== 'stuck' && strays.length > 0);
  if (duplicatedOutputs || (verdict === 'completed' && l.outputObjects.length !== completed.length))
    problems.push(
      `${l.outputObjects.length} output objects for ${completed.length} completed units (${l.outputObjects.join(', ')}; recorded: ${[...pointed].join(', ')})`,
    );
  if (verdict === 'completed' && completed.length !== l.units.length)
    problems.push(`completed with ${l.units.length - completed.length} unit(s) not completed`);
  if (verdict === 'canceled' && l.outputObjects.length + l.inputObjects > 0)
    problems.push(`canceled but ${l.outputObjects.length + l.inputObjects} object(s) left`);
  const failedWithReason = verdict === 'failed' && l.errors.some((e) => !!e.message);
  if (verdict === 'failed' && !failedWithReason) problems.push('failed without a reason');

  const events = new Set(l.deliveries.map((d) => d.event));
  const postedIds = new Set(l.posts.map((p) => p.deliveryId));
  const duplicateCallbacks = l.deliveries.length > 1 || events.size > 1 || postedIds.size > 1 || l.okAttemptRows > 1;
  if (duplicateCallbacks)
    problems.push(
      `callbacks: ${l.deliveries.length} deliveries (${[...events].join(', ')}), ${postedIds.size} delivery ids posted, ${l.okAttemptRows} 2xx attempts`,
    );
  if (verdict !== 'stuck') {
    const want = `job.${verdict}`;
    const delivered = l.deliveries.filter((d) => d.event === want && d.state === 'delivered');
    if (delivered.length !== 1 || l.okAttemptRows < 1 || !l.posts.some((p) => p.event === want))
      problems.push(
        `${want}: outbox ${JSON.stringify(l.deliveries.map((d) => [d.event, d.state]))}, ${l.okAttemptRows} 2xx attempts, ${l.posts.length} POSTs`,
      );
  }
  return {
    verdict,
    failedWithReason,
    duplicatedOutputs,
    duplicateCallbacks,
    resentPosts: Math.max(0, l.posts.length - postedIds.size),
    strays,
    problems,
  };
}
