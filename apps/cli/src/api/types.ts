// The shapes of the public API's answers that the CLI reads (shared/design/API.md).
import type { JobStatus } from '@kiln/contracts';

export type { ConversionView, InputView, JobList, JobView, OutputView, UploadView } from '@kiln/contracts';

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
