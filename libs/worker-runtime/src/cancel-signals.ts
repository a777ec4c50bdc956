import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { LOGGER, type Logger } from '@kiln/observability';
import { JobEvents, createRedis, redisTargetOf, type RedisClient } from '@kiln/queue';

/**
 * Cluster-wide cancel: the gateway publishes a job id on the cancel channel; every worker aborts the
 * work it is running for that job (converters: ffmpeg gets SIGTERM, then SIGKILL; assemblers: a
 * remote download stops).
 */
@Injectable()
export class CancelSignals implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly running = new Map<string, Set<AbortController>>();
  private subscriber?: RedisClient;

  constructor(
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(JobEvents) private readonly events: JobEvents,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.subscriber = createRedis(redisTargetOf(this.config), 'client');
    this.subscriber.on('message', (_channel: string, jobId: string) => this.abort(jobId));
    await this.subscriber.subscribe(this.events.cancelChannel);
  }

  onApplicationShutdown(): void {
    this.subscriber?.disconnect();
  }

  /** A signal that fires when the job is canceled; release it when the unit ends. */
  register(jobId: string): { signal: AbortSignal; release: () => void } {
    const controller = new AbortController();
    let set = this.running.get(jobId);
    if (!set) {
      set = new Set();
      this.running.set(jobId, set);
    }
    set.add(controller);
    return {
      signal: controller.signal,
      release: () => {
        set!.delete(controller);
        if (!set!.size) this.running.delete(jobId);
      },
    };
  }

  private abort(jobId: string): void {
    const set = this.running.get(jobId);
    if (!set?.size) return;
    this.log.info({ jobId, units: set.size }, 'job canceled: stopping its conversions');
    for (const c of set) c.abort(new Error('job canceled'));
  }
}
