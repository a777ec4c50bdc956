import 'reflect-metadata';
import { runningProcessCount } from '@kiln/media';
import { CancelSignals, runWorkerApp } from '@kiln/worker-runtime';
import { CallbackHandler } from './handlers/callback.handler';
import { ConvertHandler } from './handlers/convert.handler';
import { FinalizeHandler } from './handlers/finalize.handler';

runWorkerApp({
  name: 'converter',
  handlers: [ConvertHandler, FinalizeHandler, CallbackHandler],
  providers: [CancelSignals],
  metrics: { ffmpegProcesses: runningProcessCount },
  consumes: (config) => ({
    // ffmpeg runs in a child process, so the event loop stays free to renew the lock.
    convert: {
      concurrency: config.KILN_CONVERTER_CONCURRENCY,
      lockDurationMs: config.KILN_CONVERT_LOCK_SECONDS * 1000,
    },
    finalize: { concurrency: 10 },
    callback: { concurrency: 20 },
  }),
}).catch((err: unknown) => {
  process.stderr.write(
    `converter failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
