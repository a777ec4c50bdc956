// The shapes of the public API the CLI sends and reads: the types generated from the OpenAPI document
// (@kiln/client), so a change of the API shows up here when libs/client is regenerated.
import type { CreateUploadBody, Upload } from '@kiln/client';
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

// ---- direct uploads (design 14): routes and fields the generated schema does not have yet ----------
// Called through KilnClient.call (raw fetch + the CLI's retries) until libs/client is regenerated.

/** `GET /v1/uploads/modes`: the upload modes this server offers. */
export interface UploadModes {
  modes: ('direct' | 'proxied')[];
  default: 'direct' | 'proxied';
  recommended?: 'direct' | 'proxied';
  direct?: { part_size: number; part_size_min: number; max_parts: number; form_max: number; url_ttl_seconds: number };
}

/** One part S3 holds (ListParts): the resume list of a direct multipart session. */
export interface HeldPart {
  part_number: number;
  size: number;
  etag: string;
}

/** An upload session with the direct-upload fields (absent on a server without direct uploads). */
export type DirectUploadView = Upload & {
  mode?: 'direct' | 'proxied';
  transfer?: 'form' | 'multipart';
  form_post_url?: string;
  form_post_params?: Record<string, string>;
  form_post_expires_at?: number;
  part_size?: number;
  part_count?: number;
  parts?: HeldPart[];
  parts_url?: string;
};

/** `POST /v1/uploads` of a direct session. */
export type CreateDirectUploadBody = CreateUploadBody & {
  mode: 'direct';
  transfer?: 'form' | 'multipart';
  part_size?: number;
};

/** One presigned part URL of `POST /v1/uploads/{id}/parts`. */
export interface SignedPart {
  part_number: number;
  size: number;
  url: string;
  method: string;
  headers: Record<string, string>;
}

export interface SignedParts {
  parts: SignedPart[];
  /** Epoch seconds. */
  expires_at: number;
}
