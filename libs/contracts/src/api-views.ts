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
  /** What the file is, read from its first bytes once it is ready (video, audio, image, document, spreadsheet, presentation, pdf). */
  kind?: string;
  /** The detected format with `kind` (png, docx, mp4…), `unknown` when no engine reads it. */
  format?: string;
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
  /**
   * An output of several files (HLS: the master playlist, its renditions' playlists and segments; PDF
   * pages): every file, the first being the output itself, each with its own time-limited URL.
   * `name` is relative (`360p/index.m3u8`), as the playlists refer to each other.
   */
  files?: OutputFileView[];
  /**
   * HLS outputs: the master playlist at a signed path of the gateway, playable as it is (ffmpeg,
   * hls.js, Safari): its relative URIs resolve to the renditions' playlists, whose segments redirect
   * to storage. Valid as long as `uri`.
   */
  stream_uri?: string;
}

export interface OutputFileView {
  name: string;
  size: number;
  content_type: string;
  checksum_sha256: string;
  uri: string;
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
  /** `direct`: the client sends the bytes straight to S3 (presigned); `proxied`: through the gateway. Always present. */
  mode?: 'direct' | 'proxied';
  /** Direct sessions: one presigned POST form, or presigned part PUTs. */
  transfer?: 'form' | 'multipart';
  /** Direct form: where to POST the form (multipart/form-data; `form_post_params` first, the file last as `file`). */
  form_post_url?: string;
  form_post_params?: Record<string, string>;
  /** Direct form: epoch seconds. */
  form_post_expires_at?: number;
  /** Direct multipart: bytes per part (the last may be shorter). */
  part_size?: number;
  part_count?: number;
  /** Direct multipart: the parts S3 holds (ListParts), the resume list. */
  parts?: DirectPartView[];
  /** Direct multipart: POST part numbers here to get presigned part URLs. */
  parts_url?: string;
}

/** A part of a direct multipart upload as S3 holds it. */
export interface DirectPartView {
  part_number: number;
  size: number;
  etag: string;
}

/** A presigned part URL of a direct multipart upload (POST /v1/uploads/{id}/parts). */
export interface SignedPartView {
  part_number: number;
  size: number;
  url: string;
  method: 'PUT';
  headers: Record<string, string>;
}

/** GET /v1/uploads/modes: the upload modes this server offers. */
export interface UploadModesView {
  modes: ('direct' | 'proxied')[];
  default: 'proxied';
  recommended: 'direct' | 'proxied';
  direct?: {
    part_size: number;
    part_size_min: number;
    max_parts: number;
    form_max: number;
    url_ttl_seconds: number;
  };
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
