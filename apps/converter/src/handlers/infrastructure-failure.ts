/**
 * Failures of the converter's machine, not of the input: ffmpeg or ffprobe killed by a signal, a
 * full disk, an I/O error (libs/media tool-exit.ts), or the same errors from the converter's own
 * file writes (the input's download into the scratch folder). The unit is retried (BullMQ hands it
 * to whichever converter is free); when the retries run out it fails with code `internal` and the
 * message below, which says the input was not found at fault.
 */
import { isMediaError } from '@kiln/media';

const DISK_ERRORS: Record<string, string> = {
  ENOSPC: "no space left on the converter's disk (ENOSPC)",
  EDQUOT: "the converter's disk quota was reached (EDQUOT)",
  EIO: "an input/output error on the converter's disk (EIO)",
};

/** What failed, when `err` is a failure of the machine; null otherwise. */
export function infrastructureCause(err: unknown): string | null {
  if (isMediaError(err)) return err.code === 'infrastructure' ? err.message : null;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && code in DISK_ERRORS ? DISK_ERRORS[code] : null;
}

/** The unit's error once its retries ran out (README: "Faults of the machine"). */
export function infrastructureFailureMessage(cause: string, attempts: number): string {
  return `infrastructure failure (not a problem with the input): ${cause}; gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}`;
}
