import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { KilnConfig } from '@kiln/config';
import { KilnMetrics, createLogger, type Logger } from '@kiln/observability';
import { AppModule } from './app.module';
import { QueueProducer } from '@kiln/queue';
import { jsonBody } from './http/json-body';
import { QUEUE_BOARD_PATH, adminAuth, queueBoard } from './http/queue-board';
import { requestContext } from './http/request-context.middleware';

/** Builds the gateway (used by main.ts and by tests that run it in-process). */
export async function createGateway(config: KilnConfig, logger: Logger = createLogger('api-gateway', config.KILN_LOG_LEVEL)): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, logger), {
    bodyParser: false,
    logger: ['error', 'warn'],
  });
  app.disable('x-powered-by');
  app.set('trust proxy', true);
  app.use(requestContext(logger, app.get(KilnMetrics)));
  app.use(jsonBody());
  app.use(QUEUE_BOARD_PATH, adminAuth(config), queueBoard(app.get(QueueProducer)));
  const server = app.getHttpServer();
  // Uploads of large files over slow links: no whole-request timeout, but idle sockets are closed.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  return app;
}
