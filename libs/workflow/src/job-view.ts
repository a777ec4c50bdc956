import { signedFileUrl } from './output-file-urls';
import type { Conversion, Input, Job, Output } from '@kiln/database';
import {
  FINAL_JOB_STATUSES,
  type ConversionView,
  type InputView,
  type JobError,
  type JobStatus,
  type JobView,
  type OutputView,
  type TaskStatus,
} from '@kiln/contracts';
import type { ObjectStore } from '@kiln/storage';

/** The API's answer shapes live in contracts (the CLI reads them too). */
export type { ConversionView, InputView, JobView, OutputView } from '@kiln/contracts';

export type JobWithChildren = Job & { inputs: Input[]; conversions: Conversion[]; outputs: Output[] };

/** What decides when a job's data expires (its files and rows are deleted). */
export type JobRetention = Pick<Job, 'status' | 'finishedAt' | 'expiresAt' | 'keepData'>;

/** The default KILN_JOB_RETENTION_SECONDS: a day after the job ends. */
export const DEFAULT_JOB_RETENTION_SECONDS = 24 * 3600;

const ENDED: readonly string[] = FINAL_JOB_STATUSES;

/**
 * When a job's data expires: never (null) when it is kept (`expires_at: 0`); its own `expires_at` when
 * given at creation; else its end + `retentionSeconds`, unknown (null) while it has not ended. The
 * retention task never deletes a job that has not ended, whatever this says.
 */
export function jobDataExpiry(job: JobRetention, retentionSeconds: number): Date | null {
  if (job.keepData) return null;
  if (job.expiresAt) return job.expiresAt;
  if (!ENDED.includes(job.status) || !job.finishedAt) return null;
  return new Date(job.finishedAt.getTime() + retentionSeconds * 1000);
}

/**
 * Makes a time-limited download URL for a stored output of `job`; `dataExpiry` says when that job's
 * data expires (the view shows it).
 */
export interface OutputUrlSigner {
  (output: Output, job: JobRetention): Promise<string>;
  dataExpiry(job: JobRetention): Date | null;
  /**
   * The playable URL of an HLS output (output-file-urls.ts): the master playlist under a signed path
   * of the gateway at `filesBase`; null without a base or a job token.
   */
  streamUrl(output: Output, job: JobRetention & { token?: string }): string | null;
}

/**
 * The signer the gateway and the callbacks share: a presigned GET named after the output, valid for
 * `ttlSeconds` or until the job's data expires, whichever comes first (at least 1 s: a URL signed in
 * the moments between expiry and the retention task's run still works until it runs). A job not
 * ended yet without its own `expires_at` keeps its data at least `retentionSeconds` from now.
 */
export function outputUrlSigner(
  store: Pick<ObjectStore, 'presignGet'>,
  ttlSeconds: number,
  retentionSeconds = DEFAULT_JOB_RETENTION_SECONDS,
  /** Where the gateway answers (KILN_PUBLIC_URL), for the signed file paths of HLS outputs. */
  filesBase?: string,
): OutputUrlSigner {
  const dataExpiry = (job: JobRetention) => jobDataExpiry(job, retentionSeconds);
  const seconds = (job: JobRetention) => {
    const expiry = dataExpiry(job);
    const left = expiry
      ? Math.floor((expiry.getTime() - Date.now()) / 1000)
      : job.keepData
        ? Number.POSITIVE_INFINITY
        : retentionSeconds;
    return Math.max(1, Math.min(ttlSeconds, left));
  };
  const sign = (o: Output, job: JobRetention) =>
    store.presignGet(o.objectKey!, seconds(job), {
      filename: o.filename ?? undefined,
      contentType: o.contentType ?? undefined,
    });
  const streamUrl = (o: Output, job: JobRetention & { token?: string }) => {
    if (!filesBase || !job.token || !o.filename || o.contentType !== HLS_PLAYLIST) return null;
    return signedFileUrl(filesBase, job.token, o.id, Math.floor(Date.now() / 1000) + seconds(job), o.filename);
  };
  return Object.assign(sign, { dataExpiry, streamUrl });
}

/** The content type of an HLS playlist (the `hls` target's output). */
export const HLS_PLAYLIST = 'application/vnd.apple.mpegurl';

const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);
const num = (n: bigint | null | undefined): number | null => (n === null || n === undefined ? null : Number(n));

export function inputView(i: Input): InputView {
  return {
    id: i.id,
    type: i.type,
    source: i.source,
    filename: i.filename,
    size: num(i.size),
    content_type: i.contentType,
    checksum_sha256: i.checksumSha256,
    status: i.status,
    ...(i.error ? { error: i.error } : {}),
    ...(i.media ? { media: i.media } : {}),
    ...(i.kind ? { kind: i.kind } : {}),
    ...(i.format ? { format: i.format } : {}),
    created_at: i.createdAt.toISOString(),
  };
}

/** A conversion's status and progress follow from its units of work (one Output row per input). */
export function conversionView(c: Conversion, outputs: Output[]): ConversionView {
  const mine = outputs.filter((o) => o.conversionId === c.id);
  let status = c.status as TaskStatus;
  let progress = c.progress;
  if (mine.length) {
    const states = new Set(mine.map((o) => o.status));
    const ended = mine.every((o) => o.status === 'completed' || o.status === 'failed' || o.status === 'canceled');
    if (states.has('canceled') && ended) status = 'canceled';
    else if (ended) status = states.has('failed') ? 'failed' : 'completed';
    else if (states.has('processing') || states.has('completed') || states.has('failed')) status = 'processing';
    else status = 'queued';
    progress = Math.floor(mine.reduce((n, o) => n + (o.status === 'completed' ? 100 : o.progress), 0) / mine.length);
  }
  const failed = mine.find((o) => o.status === 'failed');
  const error = c.error ?? failed?.error ?? undefined;
  return {
    id: c.id,
    target: c.target,
    category: c.category,
    options: c.options,
    status,
    progress,
    ...(error ? { error } : {}),
  };
}

export async function outputView(
  o: Output,
  sign: OutputUrlSigner,
  job: JobRetention & { token?: string },
): Promise<OutputView> {
  return {
    id: o.id,
    conversion_id: o.conversionId,
    input_id: o.inputId,
    filename: o.filename,
    size: num(o.size),
    content_type: o.contentType,
    checksum_sha256: o.checksumSha256,
    uri: o.objectKey ? await sign(o, job) : null,
    created_at: (o.finishedAt ?? o.createdAt).toISOString(),
    ...(Array.isArray(o.files)
      ? { files: await fileViews(o, o.files as unknown as StoredOutputFile[], sign, job) }
      : {}),
    ...(sign.streamUrl(o, job) ? { stream_uri: sign.streamUrl(o, job)! } : {}),
  };
}

/** One file of a many-file output as the converter stores it (the output row's `files`). */
interface StoredOutputFile {
  name: string;
  key: string;
  size: number;
  content_type: string;
  sha256: string;
}

function fileViews(o: Output, files: StoredOutputFile[], sign: OutputUrlSigner, job: JobRetention) {
  return Promise.all(
    files.map(async (f) => ({
      name: f.name,
      size: f.size,
      content_type: f.content_type,
      checksum_sha256: f.sha256,
      uri: await sign(
        { ...o, objectKey: f.key, filename: f.name.split('/').pop() ?? f.name, contentType: f.content_type },
        job,
      ),
    })),
  );
}

const STATUS_INFO: Record<JobStatus, string> = {
  incomplete: 'The job accepts inputs and conversions.',
  queued: 'The job is waiting for a converter.',
  downloading: 'Inputs are being fetched or assembled.',
  processing: 'The job is being converted.',
  completed: 'The job has finished; its outputs are ready to download.',
  failed: 'The job has failed; see errors.',
  canceling: 'The job is being canceled: conversions stop and its files are deleted.',
  canceled: 'The job was canceled.',
};

export async function jobView(
  job: JobWithChildren,
  sign: OutputUrlSigner,
  options: { includeToken?: boolean } = {},
): Promise<JobView> {
  const status = job.status as JobStatus;
  const completedOutputs = job.outputs.filter((o) => o.status === 'completed');
  const finished = job.finishedAt ?? null;
  const spent = job.startedAt ? (finished ?? new Date()).getTime() - job.startedAt.getTime() : 0;
  return {
    id: job.id,
    ...(options.includeToken ? { token: job.token } : {}),
    status: { code: status, info: job.statusInfo || STATUS_INFO[status] },
    errors: (job.errors as unknown as JobError[]) ?? [],
    process: job.process,
    callback: job.callback,
    notify_status: job.notifyStatus,
    tag: job.tag,
    input: job.inputs.map(inputView),
    conversion: job.conversions.map((c) => conversionView(c, job.outputs)),
    output: await Promise.all(completedOutputs.map((o) => outputView(o, sign, job))),
    progress: job.progress,
    created_at: job.createdAt.toISOString(),
    modified_at: job.modifiedAt.toISOString(),
    started_at: iso(job.startedAt),
    finished_at: iso(finished),
    spent_ms: Math.max(0, spent),
    expires_at: iso(sign.dataExpiry(job)),
  };
}

export const JOB_CHILDREN = {
  inputs: { orderBy: { createdAt: 'asc' as const } },
  conversions: { orderBy: { createdAt: 'asc' as const } },
  outputs: { orderBy: { createdAt: 'asc' as const } },
};
