/**
 * The maintenance handler without services: storage is the in-memory ObjectStore (held to the S3
 * adapter by the contract suite), the database a small fake of the few calls the handler makes, the
 * lifecycle a recorder of the jobs it is asked to start again, the clock the `now` each run is given.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { PrismaClient } from '@kiln/database';
import { createLogger } from '@kiln/observability';
import { objectKeys } from '@kiln/storage';
import { InMemoryObjectStore } from '@kiln/storage/testing';
import type { JobLifecycle } from '@kiln/workflow';
import { MaintenanceHandler, REQUEUE_AFTER_MS, STALE_MULTIPART_AGE_MS } from './maintenance.handler';

interface UploadRow {
  id: string;
  status: string;
  jobId: string | null;
  inputId: string | null;
  expiresAt: Date | null;
  multipartId: string | null;
  multipartKey: string | null;
}
interface InputRow {
  id: string;
  status: string;
  error: string | null;
}
interface JobRow {
  id: string;
  status: string;
  startedAt: Date | null;
}
type Where = Record<string, unknown>;

/** The where clauses the handler writes: equality (null included), `in`, `lt`. */
function matches(row: object, where: Where): boolean {
  return Object.entries(where).every(([field, cond]) => {
    const value = (row as Record<string, unknown>)[field];
    if (cond !== null && typeof cond === 'object' && !(cond instanceof Date)) {
      const c = cond as { in?: unknown[]; lt?: Date };
      if (c.in && !c.in.includes(value)) return false;
      if (c.lt && !(value instanceof Date && value < c.lt)) return false;
      return true;
    }
    return value === cond;
  });
}

/** Just the Prisma calls MaintenanceHandler makes, over three arrays of rows. */
class FakeDatabase {
  uploads: UploadRow[] = [];
  inputs: InputRow[] = [];
  jobs: JobRow[] = [];
  /** Advisory locks taken, by the key they hash. */
  readonly locks: string[] = [];
  /** Runs while the lock is held (to play a job attaching the upload at that moment). */
  onLock?: (key: string) => void;

  readonly upload = {
    findMany: async ({ where, take }: { where: Where; take: number }) =>
      this.uploads.filter((u) => matches(u, where)).slice(0, take),
    delete: async ({ where }: { where: { id: string } }) => {
      this.uploads = this.uploads.filter((u) => u.id !== where.id);
    },
    deleteMany: async ({ where }: { where: Where }) => {
      const before = this.uploads.length;
      this.uploads = this.uploads.filter((u) => !matches(u, where));
      return { count: before - this.uploads.length };
    },
    count: async ({ where }: { where: Where }) => this.uploads.filter((u) => matches(u, where)).length,
  };
  readonly input = {
    updateMany: async ({ where, data }: { where: Where; data: Partial<InputRow> }) => {
      const hit = this.inputs.filter((i) => matches(i, where));
      for (const i of hit) Object.assign(i, data);
      return { count: hit.length };
    },
  };
  readonly job = {
    findMany: async ({
      where,
      take,
      orderBy,
    }: {
      where: Where;
      take: number;
      orderBy: { startedAt: 'asc' | 'desc' };
    }) =>
      this.jobs
        .filter((j) => matches(j, where))
        .sort((a, b) => (a.startedAt!.getTime() - b.startedAt!.getTime()) * (orderBy.startedAt === 'asc' ? 1 : -1))
        .slice(0, take)
        .map(({ id }) => ({ id })),
  };

  async $executeRaw(_sql: TemplateStringsArray, ...values: unknown[]): Promise<number> {
    this.locks.push(String(values[0]));
    this.onLock?.(String(values[0]));
    return 1;
  }

  async $transaction(work: Promise<unknown>[] | ((tx: this) => Promise<unknown>)): Promise<unknown> {
    return Array.isArray(work) ? Promise.all(work) : work(this);
  }
}

const NOW = new Date('2026-06-01T12:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const HOUR = 3600 * 1000;

function setup() {
  const db = new FakeDatabase();
  const store = new InMemoryObjectStore();
  const started: string[] = [];
  const lifecycle: Pick<JobLifecycle, 'startIfReady'> = {
    startIfReady: async (jobId) => {
      started.push(jobId);
      return 2;
    },
  };
  const handler = new MaintenanceHandler(
    db as unknown as PrismaClient,
    store,
    createLogger('maintenance-test', 'silent'),
    lifecycle as JobLifecycle,
    { KILN_JOB_RETENTION_SECONDS: 86_400, KILN_ORPHAN_MIN_AGE_SECONDS: 86_400 },
  );
  return { db, store, started, handler };
}

const put = (store: InMemoryObjectStore, key: string) => store.put(key, Readable.from([Buffer.from('bytes')]));
const keys = async (store: InMemoryObjectStore, prefix: string) => {
  const found: string[] = [];
  for await (const o of store.list(prefix)) found.push(o.key);
  return found;
};
const upload = (over: Partial<UploadRow> = {}): UploadRow => ({
  id: randomUUID(),
  status: 'uploading',
  jobId: null,
  inputId: null,
  expiresAt: ago(HOUR),
  multipartId: null,
  multipartKey: null,
  ...over,
});

describe('MaintenanceHandler: expire-uploads', () => {
  it('removes an expired session: its chunks, its multipart upload and its row; its waiting input fails', async () => {
    const { db, store, handler } = setup();
    const multipartKey = objectKeys.upload(randomUUID(), 'film.mov');
    const multipartId = store.beginMultipartUpload(multipartKey);
    const expired = upload({ inputId: randomUUID(), multipartId, multipartKey });
    const live = upload({ expiresAt: new Date(NOW.getTime() + HOUR) });
    const never = upload({ expiresAt: null });
    db.uploads.push(expired, live, never);
    db.inputs.push({ id: expired.inputId!, status: 'uploading', error: null });
    await put(store, objectKeys.chunk(expired.id, 0, 9));
    await put(store, objectKeys.chunk(live.id, 0, 9));

    const outcome = await handler.expireUploads(NOW);

    expect(outcome).toEqual({
      status: 'success',
      detail: '1 expired upload sessions removed, 0 unclaimed uploads removed',
    });
    expect(db.uploads.map((u) => u.id)).toEqual([live.id, never.id]);
    expect(db.inputs[0]).toEqual({ id: expired.inputId, status: 'failed', error: 'the upload session expired' });
    expect(await keys(store, objectKeys.uploadChunks(expired.id))).toEqual([]);
    expect(await keys(store, objectKeys.uploadChunks(live.id))).toHaveLength(1);
    expect(store.incompleteUploads).toBe(0);
  });

  it('an input already ready or failed is not touched; a failed session past expiry is removed too', async () => {
    const { db, handler } = setup();
    const done = upload({ status: 'failed', inputId: randomUUID() });
    db.uploads.push(done);
    db.inputs.push({ id: done.inputId!, status: 'ready', error: null });
    expect(await handler.handle({ task: 'expire-uploads' })).toMatchObject({ status: 'success' });
    expect(db.uploads).toEqual([]);
    expect(db.inputs[0]).toEqual({ id: done.inputId, status: 'ready', error: null });
  });

  it('removes an unclaimed standalone file past expires_at (file and chunks, under the upload lock); keeps claimed ones', async () => {
    const { db, store, handler } = setup();
    const unclaimed = upload({ status: 'complete' });
    const claimed = upload({ status: 'complete', jobId: randomUUID() });
    db.uploads.push(unclaimed, claimed);
    await put(store, objectKeys.upload(unclaimed.id, 'a.wav'));
    await put(store, objectKeys.chunk(unclaimed.id, 0, 4));
    await put(store, objectKeys.upload(claimed.id, 'b.wav'));

    const outcome = await handler.expireUploads(NOW);

    expect(outcome).toEqual({
      status: 'success',
      detail: '0 expired upload sessions removed, 1 unclaimed uploads removed',
    });
    expect(db.locks).toEqual([`upload:${unclaimed.id}`]);
    expect(db.uploads).toEqual([claimed]);
    expect(await keys(store, objectKeys.uploadFiles(unclaimed.id))).toEqual([]);
    expect(await keys(store, objectKeys.uploadChunks(unclaimed.id))).toEqual([]);
    expect(await keys(store, objectKeys.uploadFiles(claimed.id))).toHaveLength(1);
  });

  it('a job attaching the upload while the lock is awaited wins: row and file stay', async () => {
    const { db, store, handler } = setup();
    const racing = upload({ status: 'complete' });
    db.uploads.push(racing);
    await put(store, objectKeys.upload(racing.id, 'a.wav'));
    db.onLock = () => (racing.jobId = randomUUID());

    expect(await handler.expireUploads(NOW)).toEqual({
      status: 'success',
      detail: '0 expired upload sessions removed, 0 unclaimed uploads removed',
    });
    expect(db.uploads).toEqual([racing]);
    expect(await keys(store, objectKeys.uploadFiles(racing.id))).toHaveLength(1);
  });
});

describe('MaintenanceHandler: requeue-queued and stale-multipart', () => {
  it('sends again the units of jobs queued for longer than a minute, oldest first; recent jobs are left to run', async () => {
    const { db, started, handler } = setup();
    const [old, older, recent] = [randomUUID(), randomUUID(), randomUUID()];
    db.jobs.push(
      { id: old, status: 'queued', startedAt: ago(REQUEUE_AFTER_MS + 1000) },
      { id: older, status: 'queued', startedAt: ago(10 * REQUEUE_AFTER_MS) },
      { id: recent, status: 'queued', startedAt: ago(REQUEUE_AFTER_MS - 1000) },
      { id: randomUUID(), status: 'processing', startedAt: ago(HOUR) },
    );
    expect(await handler.requeueQueued(NOW)).toEqual({
      status: 'success',
      detail: '2 queued jobs checked, 4 units sent again',
    });
    expect(started).toEqual([older, old]);
  });

  it('aborts multipart uploads abandoned for a day, but not an upload session’s nor a recent one', async () => {
    const { db, store, handler } = setup();
    const [staleKey, ownedKey, recentKey] = ['a.wav', 'b.wav', 'c.wav'].map((name) =>
      objectKeys.upload(randomUUID(), name),
    );
    const stale = store.beginMultipartUpload(staleKey, new Date(Date.now() - STALE_MULTIPART_AGE_MS - HOUR));
    const owned = store.beginMultipartUpload(ownedKey, new Date(Date.now() - 2 * STALE_MULTIPART_AGE_MS));
    const recent = store.beginMultipartUpload(recentKey, new Date(Date.now() - HOUR));
    db.uploads.push(upload({ multipartId: owned, expiresAt: null }));

    expect(await handler.handle({ task: 'stale-multipart' })).toEqual({
      status: 'success',
      detail: '1 stale multipart uploads aborted',
    });
    await expect(store.listParts(staleKey, stale)).rejects.toThrow();
    await expect(store.listParts(ownedKey, owned)).resolves.toEqual([]);
    await expect(store.listParts(recentKey, recent)).resolves.toEqual([]);
  });

  it('skips a task this version does not run', async () => {
    const { handler } = setup();
    const task = 'defragment' as 'expire-uploads';
    expect(await handler.handle({ task })).toEqual({
      status: 'skipped',
      reason: 'task defragment is not run by this version',
    });
  });
});
