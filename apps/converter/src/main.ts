import 'reflect-metadata';
import { convertQueueFor } from '@kiln/contracts';
import { runningProcessCount } from '@kiln/media';
import { CancelSignals, runWorkerApp } from '@kiln/worker-runtime';
import { CallbackHandler } from './handlers/callback.handler';
import { ConvertHandler, OfficeConvertHandler, VipsConvertHandler } from './handlers/convert.handler';
import { FinalizeHandler } from './handlers/finalize.handler';
import { enginesProvider } from './engines.provider';

/** The handler of each engine's queue. */
const CONVERT_HANDLERS = { ffmpeg: ConvertHandler, vips: VipsConvertHandler, office: OfficeConvertHandler } as const;

runWorkerApp({
  name: 'converter',
  // Only the queues of the engines this converter runs (KILN_CONVERTER_ENGINES).
  handlers: (config) => [
    ...config.KILN_CONVERTER_ENGINES.map((engine) => CONVERT_HANDLERS[engine]),
    FinalizeHandler,
    CallbackHandler,
  ],
  providers: [CancelSignals, enginesProvider],
  metrics: { ffmpegProcesses: runningProcessCount },
  consumes: (config) => {
    // Every engine runs its work in a child process or libvips' threads, so the event loop stays free to renew the lock.
    const convert = {
      concurrency: config.KILN_CONVERTER_CONCURRENCY,
      lockDurationMs: config.KILN_CONVERT_LOCK_SECONDS * 1000,
    };
    return {
      ...Object.fromEntries(config.KILN_CONVERTER_ENGINES.map((e) => [convertQueueFor(e), convert])),
      finalize: { concurrency: 10 },
      callback: { concurrency: 20 },
    };
  },
}).catch((err: unknown) => {
  process.stderr.write(
    `converter failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
