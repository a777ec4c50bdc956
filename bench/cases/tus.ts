// The tus peer (bench/tus-peer.ts in its own process) and uploads to it with tus-js-client.
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { Upload } from 'tus-js-client';
import { ROOT, startScript, type SuiteContext } from '../bench-kit';
import { bucketStore } from '../s3';

export interface TusPeer {
  url: string;
  pid: number;
  bucket: string;
  stop(): Promise<void>;
  /** Deletes what one upload left in the bucket (the object, its .info and any .part). */
  remove(uploadUrl: string): Promise<void>;
}

export async function startTusPeer(ctx: SuiteContext, name: string): Promise<TusPeer> {
  const bucket = `${ctx.bucket}-tus`;
  const store = await bucketStore(ctx, bucket);
  const script = await startScript(
    path.join(ROOT, 'dist/bench/tus-peer.js'),
    {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'production',
      S3_ENDPOINT: ctx.s3.endpoint,
      S3_ACCESS_KEY: ctx.s3.accessKey,
      S3_SECRET_KEY: ctx.s3.secretKey,
      S3_REGION: ctx.s3.region,
      TUS_BUCKET: bucket,
      // The same runtime settings as the Kiln apps (BENCH_PEER_NODE_OPTIONS to run it otherwise).
      NODE_OPTIONS: process.env.BENCH_PEER_NODE_OPTIONS ?? process.env.BENCH_NODE_OPTIONS ?? '--max-semi-space-size=2',
      MALLOC_ARENA_MAX: process.env.BENCH_MALLOC_ARENA_MAX ?? '2',
    },
    path.join(ctx.logDir, `${name}-tus-peer.log`),
  );
  const port = Number(script.line.split(' ')[1]);
  return {
    url: `http://127.0.0.1:${port}/files`,
    pid: script.pid,
    bucket,
    stop: script.stop,
    async remove(uploadUrl: string) {
      const id = uploadUrl.split('/').pop();
      if (id) await store.removePrefix(id);
    },
  };
}

/**
 * One tus upload of a whole file with tus-js-client (`chunkSize` per PATCH; one stream unless
 * `parallelUploads` > 1, which needs the server's concatenation extension); resolves with its URL.
 */
export function tusUpload(
  endpoint: string,
  file: string,
  chunkSize: number,
  options: { headers?: Record<string, string>; parallelUploads?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    // An fs.ReadStream with a path: tus-js-client reads each chunk from the file (never the whole file).
    const upload = new Upload(createReadStream(file) as unknown as Buffer, {
      endpoint,
      chunkSize,
      headers: options.headers ?? {},
      parallelUploads: options.parallelUploads ?? 1,
      retryDelays: null,
      storeFingerprintForResuming: false,
      metadata: { filename: path.basename(file) },
      onSuccess: () => resolve(upload.url!),
      onError: reject,
    });
    upload.start();
  });
}
