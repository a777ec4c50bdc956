// The shapes of the public API's answers that the CLI reads (shared/design/API.md).
import type { JobError, JobStatus } from '@kiln/contracts';

export interface InputView {
  id: string;
  type: string;
  source: string | null;
  filename: string | null;
  size: number | null;
  status: string;
  error?: string;
}

export interface ConversionView {
  id: string;
  target: string;
  category: string;
  options: Record<string, unknown> | null;
  status: string;
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
  checksum_sha256: string | null;
  chunk_size_min: number;
  chunk_size_max: number;
  /** Merged stored ranges, inclusive ends. */
  received: [number, number][];
  received_bytes: number;
  /** First missing byte. */
  offset: number;
  status: 'uploading' | 'complete' | 'failed' | string;
  assembled: boolean;
  error?: string;
  expires_at: number;
  input?: InputView;
}

export interface CreateJobBody {
  process: boolean;
  input: { type: 'upload'; filename: string; size: number }[];
  conversion: { target: string; options?: Record<string, string | number> }[];
  callback?: string;
  tag?: string;
}

export interface CreateUploadBody {
  filename: string;
  size: number;
  job_id: string;
  input_id: string;
  checksum_sha256: string;
}

/** One `status` event of `GET /v1/jobs/{id}/events`. */
export interface JobStatusEvent {
  job_id: string;
  status: JobStatus;
  progress: number;
  at: string;
}
