import { KilnError } from '@kiln/contracts';
import type { Upload } from '@kiln/database';
import type { ChunkRange } from './content-range';

/** The chunk sizes a deployment allows (KILN_CHUNK_SIZE_MIN, KILN_CHUNK_SIZE_MAX). */
export interface ChunkSizeLimits {
  chunkSizeMin: number;
  chunkSizeMax: number;
}

/** Checks a chunk's range against its upload before any byte is read. */
export function checkChunkRange(
  limits: ChunkSizeLimits,
  upload: Pick<Upload, 'size'>,
  range: ChunkRange,
  contentLength: string | undefined,
): void {
  const size = Number(upload.size);
  if (range.total !== size) {
    throw new KilnError(
      'range_not_satisfiable',
      `Content-Range total ${range.total} differs from the upload's size ${size}.`,
      [{ field: 'Content-Range', message: `total must be ${size}` }],
    );
  }
  if (range.length > limits.chunkSizeMax) {
    throw new KilnError(
      'payload_too_large',
      `The chunk has ${range.length} bytes; chunk_size_max is ${limits.chunkSizeMax}.`,
      [{ field: 'Content-Range', message: `at most ${limits.chunkSizeMax} bytes per chunk` }],
    );
  }
  if (range.end !== size - 1 && range.length < limits.chunkSizeMin) {
    throw new KilnError(
      'range_not_satisfiable',
      `The chunk has ${range.length} bytes; every chunk but the last needs at least chunk_size_min (${limits.chunkSizeMin}).`,
      [
        {
          field: 'Content-Range',
          message: `at least ${limits.chunkSizeMin} bytes unless it is the last chunk`,
        },
      ],
    );
  }
  const declared = contentLength;
  if (declared !== undefined && Number(declared) !== range.length) {
    throw new KilnError(
      'invalid_input',
      `Content-Length ${declared} differs from the ${range.length} bytes of the Content-Range.`,
      [{ field: 'Content-Length', message: `must be ${range.length}` }],
    );
  }
}
