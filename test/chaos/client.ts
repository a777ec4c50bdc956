// The chaos run's API client: a patient user of Kiln. Every request goes to the next gateway in
// turn and is sent again (to another gateway) after a network error, a 5xx or a 429, with backoff,
// until a deadline, the way a client of a service that has outages behaves. Creation is made safe
// to repeat with a per-job tag looked up in the database before a retry (a job whose answer was
// lost is adopted, not created twice); uploads are idempotent (chunks may be re-sent; a whole file
// answered 409 job_locked was taken by an earlier try).
import { randomBytes } from 'node:crypto';
import type { Client } from 'pg';
import type { Stack } from '../stack';
import { sleep } from '../stack';

/** A file the run uploads, and the conversion asked for it. */
export interface Payload {
  kind: string;
  filename: string;
  bytes: Buffer;
  target: string;
  /** Sent as chunks of this many bytes (X-Upload-Id + Content-Range) instead of one body. */
  chunkBytes?: number;
}

export interface SubmittedJob {
  id: string;
  kind: string;
  chunked: boolean;
  submittedAt: number;
  /** When its file was fully accepted (0: never). */
  uploadedAt: number;
  /** Requests that had to be sent again (network error, 5xx, 429), by what was answered. */
  retries: Record<string, number>;
  /** Set when the client gave up (the job is left as the server has it). */
  gaveUp?: string;
}

const REQUEST_DEADLINE_MS = 150_000;

export class ChaosClient {
  private turn = 0;
  /** Requests on the wire per gateway base URL, by kind ('chunk', 'upload', …). */
  readonly inflight = new Map<string, Map<string, number>>();

  constructor(
    private readonly stack: Stack,
    private readonly db: Client,
    private readonly callbackUrl: string,
  ) {}

  /** Creates a job with one conversion and uploads `p` into it (whole or in chunks). */
  async submit(p: Payload): Promise<SubmittedJob> {
    const tag = `chaos-${randomBytes(8).toString('hex')}`;
    const job: SubmittedJob = {
      id: '',
      kind: p.kind,
      chunked: !!p.chunkBytes,
      submittedAt: Date.now(),
      uploadedAt: 0,
      retries: {},
    };
    const created = await this.send(job, 'create', '/v1/jobs', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ conversion: [{ target: p.target }], callback: this.callbackUrl, tag }),
      before: async () => {
        // A retry after a lost answer: the job may exist already.
        const { rows } = await this.db.query<{ id: string }>('SELECT id FROM jobs WHERE tag = $1', [tag]);
        return rows[0]?.id;
      },
    });
    job.id = typeof created === 'string' ? created : ((await created.json()) as { id: string }).id;
    if (p.chunkBytes) await this.uploadChunks(job, p, p.chunkBytes);
    else
      await this.send(job, 'upload', `/v1/jobs/${job.id}/upload`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/octet-stream', 'X-File-Name': p.filename },
        body: p.bytes,
        done: [409], // job_locked: an earlier try's file started the job
      });
    job.uploadedAt = Date.now();
    return job;
  }

  /** DELETE /v1/jobs/{id}: the status it answered (canceling when a step failed, canceled when done). */
  async cancel(job: SubmittedJob): Promise<string> {
    const res = await this.send(job, 'cancel', `/v1/jobs/${job.id}`, { method: 'DELETE' });
    if (typeof res === 'string') return 'unknown';
    return ((await res.json()) as { status?: { code?: string } }).status?.code ?? 'unknown';
  }

  private async uploadChunks(job: SubmittedJob, p: Payload, size: number): Promise<void> {
    const uploadId = randomBytes(6).toString('hex');
    for (let start = 0; start < p.bytes.length; start += size) {
      const end = Math.min(start + size, p.bytes.length) - 1;
      await this.send(job, 'chunk', `/v1/jobs/${job.id}/upload`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/octet-stream',
          'X-Upload-Id': uploadId,
          'X-File-Name': p.filename,
          'Content-Range': `bytes ${start}-${end}/${p.bytes.length}`,
        },
        body: p.bytes.subarray(start, end + 1),
        done: [409],
      });
    }
  }

  /**
   * Sends until a 2xx (or one of `done`) comes back; returns the response, or the id `before`
   * found (the work was done by an earlier try). Throws once the deadline passes.
   */
  private async send(
    job: SubmittedJob,
    kind: string,
    pathname: string,
    init: RequestInit & { done?: number[]; before?: () => Promise<string | undefined> },
  ): Promise<Response | string> {
    const deadline = Date.now() + REQUEST_DEADLINE_MS;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0 && init.before) {
        const found = await init.before().catch(() => undefined);
        if (found) return found;
      }
      const base = this.stack.gatewayUrls[this.turn++ % this.stack.gatewayUrls.length];
      let why: string;
      this.track(base, kind, +1);
      try {
        const res = await this.stack.api(pathname, { ...init, base, signal: AbortSignal.timeout(60_000) });
        if (res.ok || init.done?.includes(res.status)) return res;
        const text = await res.text().catch(() => '');
        if (res.status < 500 && res.status !== 429) throw new Error(`${kind} answered ${res.status}: ${text}`);
        why = String(res.status);
      } catch (err: unknown) {
        if ((err as Error).message?.startsWith(`${kind} answered`)) {
          job.gaveUp = (err as Error).message.slice(0, 300);
          throw err;
        }
        why = 'network';
      } finally {
        this.track(base, kind, -1);
      }
      job.retries[`${kind} ${why}`] = (job.retries[`${kind} ${why}`] ?? 0) + 1;
      if (Date.now() > deadline) {
        job.gaveUp = `${kind}: still ${why} after ${REQUEST_DEADLINE_MS / 1000} s`;
        throw new Error(job.gaveUp);
      }
      await sleep(Math.min(200 * 2 ** attempt, 3_000));
    }
  }

  private track(base: string, kind: string, delta: number): void {
    const kinds = this.inflight.get(base) ?? new Map<string, number>();
    kinds.set(kind, (kinds.get(kind) ?? 0) + delta);
    this.inflight.set(base, kinds);
  }

  /** A gateway with a request of `kind` on the wire right now. */
  busyWith(kind: string): string | undefined {
    for (const [base, kinds] of this.inflight) if ((kinds.get(kind) ?? 0) > 0) return base;
    return undefined;
  }
}
