import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KilnError } from '@kiln/contracts';
import { KilnMetrics, metricsAuthorized, type QueueDepth } from '@kiln/observability';
import { Public } from '../auth/auth.guard';

/**
 * `GET /metrics`: Prometheus text. `GET /metrics/queues`: the depth of every queue as JSON, for an
 * autoscaler (KEDA's metrics-api scaler reads `queues.convert.backlog` or `.demand`). Both are public
 * unless KILN_METRICS_TOKEN is set (then a Bearer token), and both read the same cached queue counts.
 */
@Controller('metrics')
export class MetricsController {
  constructor(
    @Inject(KilnMetrics) private readonly metrics: KilnMetrics,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
  ) {}

  @Get()
  @Public()
  async scrape(@Req() req: Request, @Res() res: Response): Promise<void> {
    this.authorize(req);
    const { contentType, body } = await this.metrics.scrape();
    // end(), not send(): Express would rewrite the content type's parameters.
    res.status(200);
    res.setHeader('Content-Type', contentType);
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.setHeader('Cache-Control', 'no-store');
    res.end(body);
  }

  @Get('queues')
  @Public()
  async queues(
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<{ queues: Record<string, QueueDepth> }> {
    this.authorize(req);
    const queues = await this.metrics.queueDepths();
    if (!queues)
      throw new KilnError('unavailable', 'The queue counts cannot be read from Redis right now.', undefined, {
        'Retry-After': '5',
      });
    res.setHeader('Cache-Control', 'no-store');
    return { queues };
  }

  private authorize(req: Request): void {
    if (!metricsAuthorized(req.header('authorization'), this.config.KILN_METRICS_TOKEN)) {
      throw new KilnError('unauthorized', 'Send Authorization: Bearer <KILN_METRICS_TOKEN> to read the metrics.');
    }
  }
}
