import { KilnError, type ErrorCode, type ErrorDetail } from '@kiln/contracts';

/**
 * A failure with the status code the tus protocol gives it (412, 410, 423, 460 are not in the API's
 * own table), still rendered with the API's JSON error shape; tus clients read only the status.
 */
export class TusError extends KilnError {
  constructor(
    status: number,
    code: ErrorCode,
    message: string,
    details?: ErrorDetail[],
    headers?: Record<string, string>,
    /** Reason phrase for codes Node does not know (460 Checksum Mismatch). */
    readonly statusText?: string,
  ) {
    super(code, message, details, headers);
    Object.defineProperty(this, 'status', { value: status, enumerable: true });
  }
}

/** 423 Locked: another request holds the upload's lock (tus clients retry after HEAD). */
export const uploadLocked = () =>
  new TusError(
    423,
    'conflict',
    'Another request is writing to this upload right now; ask HEAD for the offset and try again.',
    [{ field: 'Upload-Offset', message: 'upload busy' }],
    { 'Retry-After': '1' },
    'Locked',
  );
