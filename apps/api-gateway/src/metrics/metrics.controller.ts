import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KilnError } from '@kiln/contracts';
import { KilnMetrics, metricsAuthorized } from '@kiln/observability';
import { Public } from '../auth/auth.guard';

/** `GET /metrics`: Prometheus text. Public unless KILN_METRICS_TOKEN is set (then a Bearer token). */
@Controller('metrics')
export class MetricsController {
  constructor(
    @Inject(KilnMetrics) private readonly metrics: KilnMetrics,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
  ) {}

  @Get()
  @Public()
  async scrape(@Req() req: Request, @Res() res: Response): Promise<void> {
    if (!metricsAuthorized(req.header('authorization'), this.config.KILN_METRICS_TOKEN)) {
      throw new KilnError('unauthorized', 'Send Authorization: Bearer <KILN_METRICS_TOKEN> to read the metrics.');
    }
    const { contentType, body } = await this.metrics.scrape();
    // end(), not send(): Express would rewrite the content type's parameters.
    res.status(200);
    res.setHeader('Content-Type', contentType);
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.setHeader('Cache-Control', 'no-store');
    res.end(body);
  }
}
