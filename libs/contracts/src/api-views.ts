/**
 * The shapes of the public API's answers (shared/design/API.md): what the gateway renders and what
 * clients (the kiln CLI) read. Types only.
 */
import type { JobError, JobStatus, TaskStatus } from './status';

export interface InputView {
  id: string;
  type: string;
  source: string | null;
  filename: string | null;
  size: number | null;
  content_type: string | null;
  checksum_sha256: string | null;
  status: string;
  error?: string;
  media?: unknown;
  created_at: string;
}

export interface ConversionView {
  id: string;
  target: string;
  category: string;
  options: unknown;
  status: TaskStatus;
  progress: number;
  error?: string;
}

export interface OutputView {
  id: string;
  conversion_id: string;
  input_id: string;
  filename: string | null;
  size: number | null;
  content_type: string | null;
  checksum_sha256: string | null;
  uri: string | null;
  created_at: string;
}

export interface JobView {
  id: string;
  token?: string;
  status: { code: JobStatus; info: string };
  errors: JobError[];
  process: boolean;
  callback: string | null;
  /** online-convert's notify_status: a callback on every status change, not only at the end. */
  notify_status: boolean;
  tag: string | null;
  input: InputView[];
  conversion: ConversionView[];
  output: OutputView[];
  progress: number;
  created_at: string;
  modified_at: string;
  started_at: string | null;
  finished_at: string | null;
  spent_ms: number;
  /**
   * When the job's files and rows are deleted (ISO 8601, like the other times): the `expires_at` given
   * at creation, else `finished_at` + KILN_JOB_RETENTION_SECONDS; null while the job runs without one,
   * and for a job kept for good (`expires_at: 0`). After it the job answers 404.
   */
  expires_at: string | null;
}

export interface JobList {
  items: JobView[];
  next_cursor: string | null;
}

export interface UploadView {
  id: string;
  location: string;
  filename: string;
  size: number;
  job_id: string | null;
  input_id: string | null;
  content_type: string | null;
  checksum_sha256: string | null;
  chunk_size_min: number;
  chunk_size_max: number;
  received: [number, number][];
  received_bytes: number;
  offset: number;
  /** uploading → complete (every byte present; assembled into one object) | failed */
  status: string;
  assembled: boolean;
  error?: string;
  expires_at: number;
  created_at: string;
  input?: InputView;
}

/** A named conversion of one API key (POST /v1/presets). */
export interface PresetView {
  id: string;
  name: string;
  target: string;
  category: string;
  options: Record<string, unknown>;
  created_at: string;
}
