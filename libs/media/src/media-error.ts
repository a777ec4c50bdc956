import type { InfrastructureFault } from './tool-exit';
import type { MediaLimitName } from './media-limits';

/**
 * What can go wrong while probing or converting, named so the converter can map each case to an
 * outcome once. `unprocessable`, `unsupported_media_type`, `payload_too_large` and `internal` are
 * API error codes (libs/contracts errors.ts); `timeout` and `canceled` are job outcomes the caller
 * decides how to report; `infrastructure` is a failure of the machine the tool ran on (a signal,
 * a full disk, an I/O error: tool-exit.ts), not a verdict on the input: the caller retries it.
 */
export type MediaErrorCode =
  | 'unprocessable'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'timeout'
  | 'canceled'
  | 'infrastructure'
  | 'internal';

export class MediaError extends Error {
  /** Set when a media limit (media-limits.ts) refused the input; the message names it. */
  readonly limit?: MediaLimitName;
  /** Set with code `infrastructure`: what failed (tool-exit.ts). */
  readonly fault?: InfrastructureFault;

  constructor(
    readonly code: MediaErrorCode,
    message: string,
    /** The last lines ffmpeg/ffprobe wrote to stderr, when a process ran. For logs, not for end users. */
    readonly stderrTail?: string,
    options?: { cause?: unknown; limit?: MediaLimitName; fault?: InfrastructureFault },
  ) {
    super(message, options);
    this.name = 'MediaError';
    if (options?.limit) this.limit = options.limit;
    if (options?.fault) this.fault = options.fault;
  }
}

export function isMediaError(err: unknown): err is MediaError {
  return err instanceof MediaError;
}
