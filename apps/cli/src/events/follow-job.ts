// Follows a job to its end: the event stream (SSE over fetch) while it lasts, polling when it drops.
import { FINAL_JOB_STATUSES, SseParser, type JobStatus } from '@kiln/contracts';
import { ApiError } from '../api/api-error';
import type { KilnClient } from '../api/kiln-client';
import type { JobStatusEvent, JobView } from '../api/types';
import { abortableSleep } from '../api/retry';

export interface FollowOptions {
  signal?: AbortSignal;
  onStatus?: (status: JobStatus, progress: number) => void;
  /** The stream ended or broke before the job did; polling takes over. */
  onFallback?: (reason: string) => void;
  pollMs?: number;
  /** No byte (not even the 15 s keep-alive) for this long: the stream is considered dead. */
  idleMs?: number;
}

const isFinal = (s: string) => FINAL_JOB_STATUSES.includes(s as JobStatus);

/** The final job (completed, failed or canceled). */
export async function followJob(api: KilnClient, jobId: string, o: FollowOptions = {}): Promise<JobView> {
  let reason: string;
  try {
    const job = await streamUntilEnd(api, jobId, o);
    if (job) return job;
    reason = 'the event stream ended early';
  } catch (err: unknown) {
    if (o.signal?.aborted) throw o.signal.reason;
    if (err instanceof ApiError && [401, 403, 404].includes(err.status)) throw err;
    reason = `the event stream failed (${err instanceof Error ? err.message : String(err)})`;
  }
  o.onFallback?.(reason);
  return pollUntilEnd(api, jobId, o);
}

async function streamUntilEnd(api: KilnClient, jobId: string, o: FollowOptions): Promise<JobView | undefined> {
  const idle = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, idle.signal]) : idle.signal;
  const idleMs = o.idleMs ?? 45_000;
  let timer = setTimeout(() => idle.abort(new Error(`no event for ${idleMs} ms`)), idleMs);
  const bump = () => {
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(new Error(`no event for ${idleMs} ms`)), idleMs);
  };
  try {
    const res = await api.openEvents(jobId, signal);
    if (!res.body) return undefined;
    const parser = new SseParser();
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return undefined;
        bump();
        for (const e of parser.push(decoder.decode(value, { stream: true }))) {
          if (e.event === 'status') {
            const s = JSON.parse(e.data) as JobStatusEvent;
            o.onStatus?.(s.status, s.progress);
          } else if (e.event === 'job') {
            const job = JSON.parse(e.data) as JobView;
            if (isFinal(job.status.code)) return job;
          }
        }
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  } catch (err: unknown) {
    if (idle.signal.aborted && !o.signal?.aborted) throw idle.signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

async function pollUntilEnd(api: KilnClient, jobId: string, o: FollowOptions): Promise<JobView> {
  for (;;) {
    const job = await api.getJob(jobId, o.signal);
    o.onStatus?.(job.status.code, job.progress);
    if (isFinal(job.status.code)) return job;
    await abortableSleep(o.pollMs ?? 1000, o.signal);
  }
}
