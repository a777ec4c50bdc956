// The stack of the S3 outage e2e tests: every app reaches S3 through a fault proxy the test switches
// (test/s3-fault-proxy.ts); the test itself reads the bucket directly. Also the requests and counts
// the tests check with: chunk rows, log lines of failed attempts, callback deliveries.
import path from 'node:path';
import { Client } from 'pg';
import { makeTempDir } from '../../libs/media/src/testing';
import { MinioObjectStore } from '../../libs/storage/src/minio-object-store';
import { CallbackReceiver } from '../callback-receiver';
import { readRange, sha256OfStream } from '../files';
import { S3FaultProxy } from '../s3-fault-proxy';
import { Stack, json, waitFor } from '../stack';
import { logLines } from './app-logs';
import { keysUnder } from './object-store';
import { untilQueueIdle } from './queues';
import { assembledUpload } from './uploads';

export const MiB = 1024 * 1024;

export class S3OutageStack {
  readonly proxy = new S3FaultProxy(requiredEnv('S3_ENDPOINT'));
  readonly stack = new Stack();
  readonly receiver = new CallbackReceiver();
  tmp!: { dir: string; remove: () => Promise<void> };
  /** The stack's bucket, read directly (not through the proxy). */
  store!: MinioObjectStore;
  db!: Client;

  async start(): Promise<void> {
    this.tmp = await makeTempDir('kiln-s3-outage-');
    await this.proxy.start();
    await this.receiver.start();
    await this.stack.start({
      gateways: 1,
      converters: 1,
      // The reconciler looks often: an assembly that ran out of attempts during an outage is re-driven soon after.
      env: { S3_ENDPOINT: this.proxy.url, KILN_RECONCILE_INTERVAL_MS: '1000', KILN_RECONCILE_GRACE_MS: '3000' },
    });
    this.store = new MinioObjectStore({
      endpoint: requiredEnv('S3_ENDPOINT'),
      accessKey: this.stack.env.S3_ACCESS_KEY,
      secretKey: this.stack.env.S3_SECRET_KEY,
      bucket: this.stack.env.S3_BUCKET,
    });
    this.db = new Client({ connectionString: this.stack.db.url });
    await this.db.connect();
  }

  async stop(): Promise<void> {
    await this.db?.end();
    await this.stack.stop();
    await this.receiver.stop();
    await this.proxy.stop();
    await this.tmp?.remove();
  }

  jsonPost = (p: string, body: unknown) =>
    this.stack.api(p, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

  /** A job waiting for one uploaded input, converted to `target`, with the test's callback. */
  async createJob(target: string) {
    const res = await this.jsonPost('/v1/jobs', {
      conversion: [{ target }],
      input: [{ type: 'upload' }],
      callback: this.receiver.url,
    });
    expect(res.status).toBe(201);
    return json(res);
  }

  /** Bytes `r` of `file` as one chunk of an upload session. */
  putChunk = async (uploadId: string, file: string, r: { start: number; end: number }, total: number) =>
    this.stack.api(`/v1/uploads/${uploadId}`, {
      method: 'PUT',
      headers: { 'Content-Range': `bytes ${r.start}-${r.end}/${total}`, 'Content-Type': 'application/octet-stream' },
      body: await readRange(file, r.start, r.end),
    });

  /** The upload's rows in upload_chunks (ranges, in file order). */
  async chunkRows(uploadId: string): Promise<string[]> {
    const { rows } = await this.db.query<{ start: string; end: string }>(
      'SELECT start::text, "end"::text FROM upload_chunks WHERE upload_id = $1 ORDER BY start',
      [uploadId],
    );
    return rows.map((r) => `${r.start}-${r.end}`);
  }

  /** Waits until an upload is assembled (throws if it failed). */
  assembledUpload = (uploadId: string) => assembledUpload(this.stack, uploadId);

  /** Every object key under `prefix`, listed on the server directly. */
  keysUnder = (prefix: string) => keysUnder(this.store, prefix);

  sha256Of = async (key: string) => sha256OfStream(await this.store.get(key));

  /** The worker log lines of `queue` about one job/upload: each failed attempt and each handled run. */
  attempts(queue: string, field: 'jobId' | 'uploadId', id: string) {
    const lines = this.stack.apps
      .filter((a) => a.app !== 'api-gateway')
      .flatMap((a) => logLines(a) as (ReturnType<typeof logLines>[number] & Record<string, unknown>)[])
      .filter((l) => l.queue === queue && l[field] === id);
    return {
      failed: lines.filter((l) => l.msg === 'job attempt failed'),
      handled: lines.filter((l) => l.msg === 'job handled' || l.msg === 'job handled with a failure'),
    };
  }

  /** Waits until a worker logged a failed attempt of `queue` for this job/upload (the fault hit it). */
  untilAttemptFailed = (queue: string, field: 'jobId' | 'uploadId', id: string) =>
    waitFor(`a failed ${queue} attempt`, async () => this.attempts(queue, field, id).failed.length > 0, 60_000, 100);

  /** The job's callback deliveries in PostgreSQL, once the callback queue has nothing left to send. */
  async deliveries(jobId: string) {
    await untilQueueIdle(
      this.stack.env.REDIS_URL,
      this.stack.env.KILN_QUEUE_PREFIX,
      'callback',
      'the callback queue to drain',
      () => this.receiver.forJob(jobId).length > 0,
    );
    const { rows } = await this.db.query<{ event: string; status_code: number | null }>(
      'SELECT event, status_code FROM callback_deliveries WHERE job_id = $1 ORDER BY at',
      [jobId],
    );
    return {
      rows,
      delivered: rows.filter((r) => r.status_code !== null && r.status_code >= 200 && r.status_code < 300),
      posts: this.receiver.forJob(jobId),
    };
  }

  file = (name: string) => path.join(this.tmp.dir, name);
}

/** Starts the S3 outage stack for the enclosing describe block (stopped after it). */
export function useS3OutageStack(): S3OutageStack {
  const s = new S3OutageStack();
  beforeAll(() => s.start());
  afterAll(() => s.stop());
  return s;
}

function requiredEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: source the test S3 server's s3.env (scripts/s3-local.sh)`);
  return v;
}
