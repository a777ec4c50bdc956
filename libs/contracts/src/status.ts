export const JobStatus = {
  incomplete: 'incomplete',
  queued: 'queued',
  downloading: 'downloading',
  processing: 'processing',
  completed: 'completed',
  failed: 'failed',
  /** A cancel was decided and its cleanup runs (interrupted, the reconciler finishes it). */
  canceling: 'canceling',
  canceled: 'canceled',
} as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];
export const FINAL_JOB_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'canceled'];
/** States in which a job records no more work: ended, or being canceled. */
export const STOPPED_JOB_STATUSES: readonly JobStatus[] = [...FINAL_JOB_STATUSES, 'canceling'];

export const InputStatus = {
  pending: 'pending',
  uploading: 'uploading',
  assembling: 'assembling',
  ready: 'ready',
  failed: 'failed',
} as const;
export type InputStatus = (typeof InputStatus)[keyof typeof InputStatus];

export type InputType = 'remote' | 'upload';

/** Status of one conversion, and of one input × conversion unit of work (an Output row). */
export const TaskStatus = {
  pending: 'pending',
  queued: 'queued',
  processing: 'processing',
  completed: 'completed',
  failed: 'failed',
  canceled: 'canceled',
} as const;
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

export type JobErrorSource = 'input' | 'conversion' | 'callback';
export interface JobError {
  code: string;
  message: string;
  source: JobErrorSource;
  input_id?: string;
  conversion_id?: string;
}

/** The events of a job's end: every job with a callback URL gets exactly one of them. */
export type FinalCallbackEvent = 'job.completed' | 'job.failed' | 'job.canceled';
/** Status changes before the end, sent only to jobs with `notify_status: true` (online-convert). */
export type StatusCallbackEvent = 'job.downloading' | 'job.queued' | 'job.processing';
export type CallbackEvent = FinalCallbackEvent | StatusCallbackEvent;
/** The statuses whose change is a StatusCallbackEvent. */
export const NOTIFIED_JOB_STATUSES = ['downloading', 'queued', 'processing'] as const satisfies readonly JobStatus[];
