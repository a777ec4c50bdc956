import type { MediaLimitName } from './media-limits';

/**
 * What can go wrong while probing or converting, named so the converter can map each case to an
 * outcome once. `unprocessable`, `unsupported_media_type`, `payload_too_large` and `internal` are
 * API error codes (libs/contracts errors.ts); `timeout` and `canceled` are job outcomes the caller
 * decides how to report.
 */
export type MediaErrorCode =
  | 'unprocessable'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'timeout'
  | 'canceled'
  | 'internal';

export class MediaError extends Error {
  /** Set when a media limit (media-limits.ts) refused the input; the message names it. */
  readonly limit?: MediaLimitName;

  constructor(
    readonly code: MediaErrorCode,
    message: string,
    /** The last lines ffmpeg/ffprobe wrote to stderr, when a process ran. For logs, not for end users. */
    readonly stderrTail?: string,
    options?: { cause?: unknown; limit?: MediaLimitName },
  ) {
    super(message, options);
    this.name = 'MediaError';
    if (options?.limit) this.limit = options.limit;
  }
}

export function isMediaError(err: unknown): err is MediaError {
  return err instanceof MediaError;
}
