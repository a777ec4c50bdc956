// Saves a job's outputs: each download URL streamed to a temporary file, checked (size, sha256), renamed.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import { apiErrorFrom, NetworkError, networkErrorFrom } from '../api/api-error';
import type { OutputView } from '../api/types';
import { withRetry, type RetryPolicy } from '../api/retry';
import { outputNames } from './output-names';

export interface SavedOutput {
  id: string;
  input_id: string;
  conversion_id: string;
  filename: string;
  path: string;
  size: number;
  checksum_sha256: string;
}

export interface DownloadOptions {
  retry: RetryPolicy;
  signal?: AbortSignal;
  onRetry?: (what: string, err: unknown, attempt: number, delayMs: number) => void;
}

async function saveOne(
  o: OutputView,
  target: string,
  opts: DownloadOptions,
): Promise<{ size: number; sha256: string }> {
  if (!o.uri) throw new Error(`output ${o.id} has no download URL (was the job's data deleted?)`);
  const uri = o.uri;
  return withRetry(
    async () => {
      let res: Response;
      try {
        // The URL is signed: it carries its own authorization, so no API key goes with it.
        res = await fetch(uri, { signal: opts.signal });
      } catch (err: unknown) {
        if (opts.signal?.aborted) throw opts.signal.reason;
        throw networkErrorFrom(err, `download of ${o.filename ?? o.id}`);
      }
      if (!res.ok || !res.body) throw await apiErrorFrom(res);
      const tmp = `${target}.${randomBytes(4).toString('hex')}.part`;
      const hash = createHash('sha256');
      let size = 0;
      const tap = new Transform({
        transform(piece: Buffer, _enc, done) {
          hash.update(piece);
          size += piece.length;
          done(null, piece);
        },
      });
      try {
        await pipeline(
          Readable.fromWeb(res.body as ReadableStream<Uint8Array>),
          tap,
          createWriteStream(tmp, { mode: 0o644 }),
          { signal: opts.signal },
        );
      } catch (err: unknown) {
        await rm(tmp, { force: true });
        if (opts.signal?.aborted) throw opts.signal.reason;
        throw networkErrorFrom(err, `download of ${o.filename ?? o.id}`);
      }
      const sha256 = hash.digest('hex');
      const wrongSize = o.size !== null && o.size !== size;
      const wrongSum = !!o.checksum_sha256 && o.checksum_sha256.toLowerCase() !== sha256;
      if (wrongSize || wrongSum) {
        await rm(tmp, { force: true });
        throw new NetworkError(
          `download of ${o.filename ?? o.id} came out wrong (${wrongSize ? `${size} bytes, expected ${o.size}` : 'sha256 mismatch'})`,
          false,
        );
      }
      await rename(tmp, target);
      return { size, sha256 };
    },
    opts.retry,
    {
      idempotent: true,
      signal: opts.signal,
      onRetry: (err, attempt, delay) => opts.onRetry?.(`download ${o.filename ?? o.id}`, err, attempt, delay),
    },
  );
}

/** Downloads every output into `dir` (created if needed), one after the other; answers the saved files. */
export async function downloadOutputs(
  outputs: OutputView[],
  dir: string,
  opts: DownloadOptions,
): Promise<SavedOutput[]> {
  if (!outputs.length) return [];
  await mkdir(dir, { recursive: true });
  const names = outputNames(outputs);
  const saved: SavedOutput[] = [];
  for (const [i, o] of outputs.entries()) {
    const target = path.resolve(dir, names[i]);
    const { size, sha256 } = await saveOne(o, target, opts);
    saved.push({
      id: o.id,
      input_id: o.input_id,
      conversion_id: o.conversion_id,
      filename: names[i],
      path: target,
      size,
      checksum_sha256: sha256,
    });
  }
  return saved;
}
