// The shapes of the public API the CLI sends and reads: the types generated from the OpenAPI document
// (@kiln/client), so a change of the API shows up here when libs/client is regenerated.
import type { JobStatus } from '@kiln/contracts';

export type {
  CreateJobBody,
  CreateUploadBody,
  Input as InputView,
  Job as JobView,
  JobList,
  Output as OutputView,
  Target,
  Upload as UploadView,
} from '@kiln/client';

/** One `status` event of `GET /v1/jobs/{id}/events`. */
export interface JobStatusEvent {
  job_id: string;
  status: JobStatus;
  progress: number;
  at: string;
}
