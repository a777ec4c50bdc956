/** Upload-Metadata read as Kiln understands it: the file, and the job (or target) the upload feeds. */
import { KilnError, findTarget, parseFilename } from '@kiln/contracts';

/** An upload, job or input id. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MEDIA_TYPE = /^[\w.+-]+\/[\w.+-]+$/;
/** The longest Upload-Metadata header taken. */
export const METADATA_MAX = 4096;

/** What Upload-Metadata asks for, validated. */
export interface CreationSpec {
  filename: string;
  contentType: string | null;
  jobId?: string;
  inputId?: string;
  target?: string;
  checksumSha256?: string;
}

/**
 * Reads the metadata keys Kiln understands: `filename` (or `name`), `filetype` (or `content_type`,
 * `type`), `job_id`, `input_id`, `target`, `checksum_sha256`. Other keys are kept (HEAD answers them)
 * but mean nothing here. Descriptive values a browser fills in are taken leniently (an odd
 * file type is dropped); the ones that steer the upload are checked, and so is the file name (a
 * name with control characters, a path or over 255 bytes is a 400; none at all is `file`).
 */
export function creationSpec(meta: Record<string, string>): CreationSpec {
  const bad = (field: string, message: string) =>
    new KilnError('invalid_input', `Upload-Metadata: ${field}: ${message}.`, [
      { field: `Upload-Metadata.${field}`, message },
    ]);
  const type = (meta.filetype ?? meta.content_type ?? meta.type ?? '').trim();
  const name = meta.filename !== undefined ? 'filename' : 'name';
  const spec: CreationSpec = {
    filename: meta[name] ? parseFilename(meta[name], `Upload-Metadata.${name}`) : 'file',
    contentType: MEDIA_TYPE.test(type) && type.length <= 255 ? type : null,
  };
  if (meta.job_id !== undefined) {
    if (!UUID.test(meta.job_id)) throw bad('job_id', 'must be a job id (uuid)');
    spec.jobId = meta.job_id.toLowerCase();
  }
  if (meta.input_id !== undefined) {
    if (!UUID.test(meta.input_id)) throw bad('input_id', 'must be an input id (uuid)');
    if (spec.jobId === undefined) throw bad('input_id', 'needs job_id');
    spec.inputId = meta.input_id.toLowerCase();
  }
  if (meta.target !== undefined) {
    const target = findTarget(meta.target.trim().toLowerCase());
    if (!target) throw bad('target', `unknown target "${meta.target}"; see GET /v1/formats`);
    if (spec.jobId !== undefined)
      throw bad('target', 'creates a new job; with job_id, add conversions to that job instead');
    spec.target = target.target;
  }
  if (meta.checksum_sha256 !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(meta.checksum_sha256)) throw bad('checksum_sha256', 'must be 64 hex characters');
    spec.checksumSha256 = meta.checksum_sha256.toLowerCase();
  }
  return spec;
}
