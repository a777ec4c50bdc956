import type { Provider } from '@nestjs/common';
import { QueueName } from '@kiln/contracts';
import { LOGGER, KilnMetrics, type Logger } from '@kiln/observability';
import { QueueProducer } from '@kiln/queue';

/** The gateway's one metrics registry; queue depths are read through the producer on scrape and by `GET /metrics/queues`. */
export const metricsProvider: Provider = {
  provide: KilnMetrics,
  useFactory: (producer: QueueProducer, log: Logger) => {
    const metrics = new KilnMetrics({ app: 'api-gateway' });
    metrics.watchQueues(Object.values(QueueName), (queue) => producer.counts(queue as QueueName), {
      onError: (err: unknown) =>
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'queue counts for metrics unavailable'),
    });
    return metrics;
  },
  inject: [QueueProducer, LOGGER],
};
