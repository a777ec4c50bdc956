import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { KilnConfig } from '@kiln/config';
import { KilnMetrics, createLogger, type Logger } from '@kiln/observability';
import { AppModule } from './app.module';
import { ApiKeys } from './auth/api-keys.service';
import { QueueProducer } from '@kiln/queue';
import { KilnExpressAdapter } from './http/http-server';
import { QUEUE_BOARD_PATH, adminAuth, queueBoard } from './http/queue-board';
import { requestContext } from './http/request-context.middleware';
import { requestDeadlines } from './http/request-deadlines';
import { uppyCors } from './uppy/uppy-cors';

/** Builds the gateway (used by main.ts and by tests that run it in-process). */
export async function createGateway(
  config: KilnConfig,
  logger: Logger = createLogger('api-gateway', config.KILN_LOG_LEVEL),
): Promise<NestExpressApplication> {
  const adapter = new KilnExpressAdapter({
    headersTimeoutMs: config.KILN_HEADERS_TIMEOUT_SECONDS * 1000,
    keepAliveTimeoutMs: 65_000,
  });
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, logger), adapter, {
    bodyParser: false,
    logger: ['error', 'warn'],
  });
  app.disable('x-powered-by');
  // Off unless configured: X-Forwarded-For from anyone would otherwise pick the client address.
  app.set('trust proxy', config.KILN_TRUST_PROXY);
  app.use(requestContext(logger, app.get(KilnMetrics)));
  // Before anything reads a body: slow bodies are cut. JSON is parsed after authentication (JsonBodyInterceptor).
  app.use(
    requestDeadlines({
      bodyTimeoutMs: config.KILN_BODY_TIMEOUT_SECONDS * 1000,
      uploadIdleMs: config.KILN_UPLOAD_IDLE_TIMEOUT_SECONDS * 1000,
    }),
  );
  // Uppy on another origin calls /v1/uppy/… (preflights answered there).
  app.use('/v1/uppy', uppyCors);
  app.use(
    QUEUE_BOARD_PATH,
    adminAuth(config, app.get(ApiKeys)),
    queueBoard(app.get(QueueProducer), { readOnly: config.KILN_QUEUE_BOARD_READ_ONLY }),
  );
  return app;
}
