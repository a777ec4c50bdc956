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
}

main().catch((err: unknown) => {
  process.stderr.write(`api-gateway failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
