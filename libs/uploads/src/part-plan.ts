import { S3_MAX_PARTS, S3_MIN_PART_SIZE } from '@kiln/storage';

/** Largest S3 part. */
const S3_MAX_PART_SIZE = 5 * 1024 ** 3;
/** Largest file whose part numbers can follow byte positions (every part but the last ≥ 5 MiB). */
export const MAX_PARTS_FILE_SIZE = S3_MAX_PARTS * S3_MIN_PART_SIZE;

/**
 * The S3 part number a chunk is stored as, or null when it is stored as its own object.
 *
 * A chunk of at least 5 MiB, or the file's last chunk, goes straight into the upload's multipart
 * upload as a part, so that assembling the file is one CompleteMultipartUpload (no byte copied)
 * instead of a copy of every chunk. Part numbers must rise with the position in the file while
 * chunks arrive in any order, so the number comes from the position: 1 + ⌊start / unit⌋ with
 * unit = ⌈size / 10,000⌉. Two such chunks that do not overlap start at least 5 MiB apart, and the
 * unit is at most 5 MiB for files up to 10,000 × 5 MiB, so their numbers differ and keep the
 * file's order. Smaller chunks (and files too big for this numbering) stay objects; the assembler
 * handles any mix.
 */
export function partNumberFor(
  size: number,
  range: { start: number; end: number },
  lengthDeferred = false,
): number | null {
  if (lengthDeferred || size <= 0 || size > MAX_PARTS_FILE_SIZE) return null;
  const length = range.end - range.start + 1;
  if (length > S3_MAX_PART_SIZE) return null;
  if (length < S3_MIN_PART_SIZE && range.end !== size - 1) return null;
  const unit = Math.ceil(size / S3_MAX_PARTS);
  return 1 + Math.floor(range.start / unit);
}
