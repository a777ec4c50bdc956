// The tus 1.0.0 resumable upload protocol (https://tus.io/protocols/resumable-upload): its header
// formats, parsed and written here without any I/O so they are unit-tested on their own.
import { KilnError } from '@kiln/contracts';
import { TusError } from '@kiln/uploads';

export { TusError, uploadLocked } from '@kiln/uploads';

export const TUS_VERSION = '1.0.0';
export const TUS_EXTENSIONS =
  'creation,creation-with-upload,creation-defer-length,expiration,checksum,termination,concatenation';
export const TUS_CHECKSUM_ALGORITHMS = ['sha1', 'sha256'] as const;
export type TusChecksumAlgorithm = (typeof TUS_CHECKSUM_ALGORITHMS)[number];
/** "The Request MUST include a Content-Type header [of] application/offset+octet-stream" (PATCH). */
export const OFFSET_OCTET_STREAM = 'application/offset+octet-stream';

/** Browsers (Uppy, tus-js-client) send these across origins; the preflight must allow them. */
export const CORS_ALLOW_HEADERS = [
  'Authorization',
  'Content-Type',
  'Upload-Checksum',
  'Upload-Concat',
  'Upload-Defer-Length',
  'Upload-Length',
  'Upload-Metadata',
  'Upload-Offset',
  'Tus-Resumable',
  'X-Api-Key',
  'X-Job-Token',
  'X-HTTP-Method-Override',
  'X-Request-Id',
  'X-Requested-With',
  'Idempotency-Key',
].join(', ');
/** Answer headers a browser script may read. */
export const CORS_EXPOSE_HEADERS = [
  'Location',
  'Upload-Concat',
  'Upload-Offset',
  'Upload-Length',
  'Upload-Defer-Length',
  'Upload-Metadata',
  'Upload-Expires',
  'Tus-Resumable',
  'Tus-Version',
  'Tus-Extension',
  'Tus-Max-Size',
  'Tus-Checksum-Algorithm',
  'Kiln-Job-Id',
  'Kiln-Upload-Status',
  'Idempotent-Replayed',
  'X-Request-Id',
  'Retry-After',
].join(', ');
export const CORS_ALLOW_METHODS = 'POST, HEAD, PATCH, DELETE, OPTIONS';

const invalid = (field: string, message: string, sentence = `${field}: ${message}.`) =>
  new KilnError('invalid_input', sentence, [{ field, message }]);

/**
 * "The Tus-Resumable header MUST be included in every request and response except for OPTIONS
 * requests." An unsupported version is 412 Precondition Failed with the versions we speak.
 */
export function assertTusResumable(value: string | undefined): void {
  if (value?.trim() === TUS_VERSION) return;
  throw new TusError(
    412,
    'invalid_input',
    value === undefined
      ? `Send Tus-Resumable: ${TUS_VERSION}.`
      : `Tus-Resumable ${value} is not supported; this server speaks ${TUS_VERSION}.`,
    [{ field: 'Tus-Resumable', message: `must be ${TUS_VERSION}` }],
    { 'Tus-Version': TUS_VERSION },
  );
}

/** Whether a Content-Type is application/offset+octet-stream (parameters ignored). */
export function isOffsetStream(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0].trim().toLowerCase() === OFFSET_OCTET_STREAM;
}

export function wrongContentType(contentType: string | undefined): TusError {
  return new TusError(
    415,
    'unsupported_media_type',
    `Upload bytes must be sent as Content-Type: ${OFFSET_OCTET_STREAM} (got ${contentType ?? 'none'}).`,
    [{ field: 'Content-Type', message: `must be ${OFFSET_OCTET_STREAM}` }],
  );
}

const DECIMAL = /^\d{1,16}$/;

/** A non-negative integer header (Upload-Offset, Upload-Length); undefined when absent. */
export function parseByteCount(field: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  const n = Number(v);
  if (!DECIMAL.test(v) || !Number.isSafeInteger(n)) throw invalid(field, 'must be a non-negative integer');
  return n;
}

/** "The Upload-Offset header [...] MUST be included in PATCH requests." */
export function parseUploadOffset(value: string | undefined): number {
  const n = parseByteCount('Upload-Offset', value);
  if (n === undefined)
    throw invalid(
      'Upload-Offset',
      'required',
      'A PATCH needs Upload-Offset: the offset the bytes start at (HEAD gives it).',
    );
  return n;
}

export type CreationLength = { deferred: false; length: number } | { deferred: true };

/**
 * Creation: "The Client MUST send Upload-Length or Upload-Defer-Length: 1." Files are at least
 * one byte (there is nothing to convert in an empty one).
 */
export function parseCreationLength(uploadLength: string | undefined, deferLength: string | undefined): CreationLength {
  const length = parseByteCount('Upload-Length', uploadLength);
  if (deferLength !== undefined) {
    if (deferLength.trim() !== '1') throw invalid('Upload-Defer-Length', 'must be 1');
    if (length !== undefined)
      throw invalid('Upload-Length', 'send either Upload-Length or Upload-Defer-Length, not both');
    return { deferred: true };
  }
  if (length === undefined)
    throw invalid(
      'Upload-Length',
      'required (or Upload-Defer-Length: 1)',
      'Creating an upload needs Upload-Length (or Upload-Defer-Length: 1).',
    );
  if (length === 0) throw invalid('Upload-Length', 'must be at least 1 byte');
  return { deferred: false, length };
}

const METADATA_KEY = /^[\x21-\x2b\x2d-\x7e]+$/; // printable ASCII, no space, no comma
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Upload-Metadata: "one or more comma-separated key-value pairs. The key and value MUST be separated
 * by a space. The key MUST NOT contain spaces and commas and MUST NOT be empty. [...] the value MUST
 * be Base64 encoded. All keys MUST be unique. The value MAY be empty", then without the space.
 * Values are decoded as UTF-8.
 */
export function parseUploadMetadata(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (header === undefined || header.trim() === '') return out;
  for (const pair of header.split(',')) {
    const parts = pair.trim().split(' ');
    const [key, value = ''] = parts;
    if (parts.length > 2 || !key || !METADATA_KEY.test(key)) {
      throw invalid(
        'Upload-Metadata',
        'must be comma-separated "key base64value" pairs',
        `Upload-Metadata: "${pair.trim().slice(0, 64)}" is not a "key base64value" pair.`,
      );
    }
    if (!BASE64.test(value)) throw invalid('Upload-Metadata', `the value of ${key} is not Base64`);
    if (Object.hasOwn(out, key)) throw invalid('Upload-Metadata', `key ${key} appears twice`);
    out[key] = Buffer.from(value, 'base64').toString('utf8');
  }
  return out;
}

/** The reverse of parseUploadMetadata (clients and tests). */
export function formatUploadMetadata(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([k, v]) => (v === '' ? k : `${k} ${Buffer.from(v, 'utf8').toString('base64')}`))
    .join(',');
}

export interface UploadChecksum {
  algorithm: TusChecksumAlgorithm;
  digest: Buffer;
}

const DIGEST_BYTES: Record<TusChecksumAlgorithm, number> = { sha1: 20, sha256: 32 };

/**
 * Upload-Checksum: "the name of the used checksum algorithm and the Base64 encoded checksum
 * separated by a space." An algorithm we do not support is 400 Bad Request.
 */
export function parseUploadChecksum(header: string | undefined): UploadChecksum | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*([A-Za-z0-9-]+) +([A-Za-z0-9+/=]+)\s*$/.exec(header);
  if (!m) throw invalid('Upload-Checksum', 'must be "<algorithm> <base64 digest>"');
  const algorithm = m[1].toLowerCase() as TusChecksumAlgorithm;
  if (!TUS_CHECKSUM_ALGORITHMS.includes(algorithm)) {
    throw invalid('Upload-Checksum', `algorithm ${m[1]} is not supported (${TUS_CHECKSUM_ALGORITHMS.join(', ')})`);
  }
  if (!BASE64.test(m[2])) throw invalid('Upload-Checksum', 'the digest is not Base64');
  const digest = Buffer.from(m[2], 'base64');
  if (digest.length !== DIGEST_BYTES[algorithm])
    throw invalid('Upload-Checksum', `a ${algorithm} digest has ${DIGEST_BYTES[algorithm]} bytes`);
  return { algorithm, digest };
}

export function checksumMismatch(algorithm: TusChecksumAlgorithm): TusError {
  return new TusError(
    460,
    'unprocessable',
    `The bytes of this request do not match their Upload-Checksum (${algorithm}); they were discarded and the offset is unchanged.`,
    [{ field: 'Upload-Checksum', message: `${algorithm} mismatch` }],
    undefined,
    'Checksum Mismatch',
  );
}

export function offsetMismatch(sent: number, offset: number): TusError {
  return new TusError(
    409,
    'conflict',
    `Upload-Offset ${sent} is not the upload's offset ${offset}; ask HEAD for the offset and send from there.`,
    [{ field: 'Upload-Offset', message: `must be ${offset}`, offset }],
  );
}

export const uploadGone = () => new TusError(410, 'not_found', 'The upload has expired.', undefined, undefined, 'Gone');

/** What the protocol says about one upload, read from the database. */
export interface TusUploadState {
  offset: number;
  /** null while the length is deferred. */
  length: number | null;
  metadata: string | null;
  expiresAt: Date | null;
  /** uploading | complete | failed */
  status: string;
  jobId: string | null;
}

/**
 * "Upload-Expires [...] in RFC 9110 (7231) datetime format" on HEAD, PATCH and POST answers of an
 * upload that can still take bytes.
 */
export function expiresHeader(state: Pick<TusUploadState, 'expiresAt' | 'status'>): Record<string, string> {
  return state.expiresAt && state.status === 'uploading' ? { 'Upload-Expires': state.expiresAt.toUTCString() } : {};
}

/** HEAD: the offset to resume from, the length (or that it is deferred), the metadata as sent. */
export function headHeaders(state: TusUploadState): Record<string, string> {
  return {
    'Cache-Control': 'no-store',
    'Upload-Offset': String(state.offset),
    ...(state.length === null ? { 'Upload-Defer-Length': '1' } : { 'Upload-Length': String(state.length) }),
    ...(state.metadata ? { 'Upload-Metadata': state.metadata } : {}),
    ...expiresHeader(state),
    ...(state.jobId ? { 'Kiln-Job-Id': state.jobId } : {}),
    'Kiln-Upload-Status': state.status,
  };
}

/** PATCH 204: the new offset. */
export function patchHeaders(state: TusUploadState): Record<string, string> {
  return {
    'Upload-Offset': String(state.offset),
    ...expiresHeader(state),
    ...(state.jobId ? { 'Kiln-Job-Id': state.jobId } : {}),
  };
}

/** OPTIONS: what this server speaks. */
export function optionsHeaders(maxSize: number): Record<string, string> {
  return {
    'Tus-Version': TUS_VERSION,
    'Tus-Extension': TUS_EXTENSIONS,
    'Tus-Max-Size': String(maxSize),
    'Tus-Checksum-Algorithm': TUS_CHECKSUM_ALGORITHMS.join(','),
  };
}

/**
 * Headers on every answer of the endpoint: Tus-Resumable, and for cross-origin callers (browsers)
 * the CORS headers; a preflight also learns the methods and headers it may use. Credentials are
 * headers (API key, job token), never cookies, so any origin may call.
 */
export function commonHeaders(origin: string | undefined, preflight = false): Record<string, string> {
  const cors: Record<string, string> = origin
    ? {
        'Access-Control-Allow-Origin': origin,
        'Access-Control-Expose-Headers': CORS_EXPOSE_HEADERS,
        Vary: 'Origin',
        ...(preflight
          ? {
              'Access-Control-Allow-Methods': CORS_ALLOW_METHODS,
              'Access-Control-Allow-Headers': CORS_ALLOW_HEADERS,
              'Access-Control-Max-Age': '86400',
            }
          : {}),
      }
    : {};
  return { 'Tus-Resumable': TUS_VERSION, ...cors };
}

/** The offset a tus client resumes from: the end of the bytes stored contiguously from 0. */
export function contiguousOffset(received: readonly [number, number][]): number {
  const first = received[0];
  return first && first[0] === 0 ? first[1] + 1 : 0;
}
