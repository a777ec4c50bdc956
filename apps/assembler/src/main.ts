import 'reflect-metadata';
import { CancelSignals, runWorkerApp } from '@kiln/worker-runtime';
import { AssembleHandler } from './handlers/assemble.handler';
import { FetchHandler } from './handlers/fetch.handler';
import { MaintenanceHandler } from './handlers/maintenance.handler';
import { MaintenanceSchedule } from './maintenance.schedule';
import { ReconcileLoop } from './reconciler/reconcile-loop';
import { Reconciler } from './reconciler/reconciler';

runWorkerApp({
  name: 'assembler',
  handlers: [AssembleHandler, FetchHandler, MaintenanceHandler],
  providers: [MaintenanceSchedule, CancelSignals, Reconciler, ReconcileLoop],
  consumes: (config) => ({
    assemble: { concurrency: config.KILN_ASSEMBLER_CONCURRENCY },
    fetch: { concurrency: config.KILN_ASSEMBLER_CONCURRENCY },
    maintenance: { concurrency: 1 },
  }),
}).catch((err: unknown) => {
  process.stderr.write(
    `assembler failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
