import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { LOGGER, type Logger } from '@kiln/observability';
import { Reconciler } from './reconciler';

/**
 * Runs the reconciler every KILN_RECONCILE_INTERVAL_MS in this process. A timer, not a queue
 * scheduler: the loop must keep running when Redis has lost every queue and scheduler.
 */
@Injectable()
export class ReconcileLoop implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = false;

  constructor(
    private readonly reconciler: Reconciler,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.reconciler
        .pass()
        .catch((err: unknown) => this.log.warn({ err: String(err) }, 'reconciler pass failed'))
        .finally(() => this.schedule());
    }, this.config.KILN_RECONCILE_INTERVAL_MS);
    this.timer.unref();
  }
}
