import 'reflect-metadata';
import { describeConfig, loadConfig } from '@kiln/config';
import { createLogger } from '@kiln/observability';
import { createGateway } from './bootstrap';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger('api-gateway', config.KILN_LOG_LEVEL);
  const app = await createGateway(config, log);
  await app.listen(config.KILN_PORT, config.KILN_HOST);
  log.info({ port: config.KILN_PORT, config: describeConfig(config) }, 'api-gateway listening');

  // SIGTERM/SIGINT: stop accepting connections, let requests in flight finish (bounded by the
  // grace period), close clients, exit 0.
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'api-gateway stopping: no new connections, finishing requests in flight');
    const hard = setTimeout(() => {
      log.warn({}, 'requests still running after the grace period; closing them');
      app.getHttpServer().closeAllConnections();
    }, config.KILN_SHUTDOWN_GRACE_SECONDS * 1000);
    hard.unref();
    app.getHttpServer().closeIdleConnections();
    app.close().then(
      () => {
        log.info({}, 'api-gateway stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err: String(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `api-gateway failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
