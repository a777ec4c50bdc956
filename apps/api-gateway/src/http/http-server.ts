import http from 'node:http';
import { ExpressAdapter } from '@nestjs/platform-express';

export interface HttpServerTimeouts {
  /** The request line and headers must arrive within this. */
  headersTimeoutMs: number;
  /** Idle keep-alive connections are closed after this. */
  keepAliveTimeoutMs: number;
}

/**
 * Nest's Express adapter, with the Node server built with Kiln's timeouts. `connectionsCheckingInterval`
 * is a constructor-only option: checked every second, a slow-header client is closed within a second
 * of its deadline instead of up to 30 s later. The whole-request timeout stays off (large uploads take
 * as long as they take); bodies are bounded by `requestDeadlines` instead.
 */
export class KilnExpressAdapter extends ExpressAdapter {
  constructor(private readonly timeouts: HttpServerTimeouts) {
    super();
  }

  override initHttpServer(options: { httpsOptions?: unknown; forceCloseConnections?: boolean }): void {
    if (options?.httpsOptions) return super.initHttpServer(options as never);
    const server = http.createServer(
      {
        headersTimeout: this.timeouts.headersTimeoutMs,
        requestTimeout: 0,
        keepAliveTimeout: this.timeouts.keepAliveTimeoutMs,
        connectionsCheckingInterval: 1_000,
      },
      this.getInstance(),
    );
    this.setHttpServer(server);
  }
}
