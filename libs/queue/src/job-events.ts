import type { RedisClient } from './connection';
import type { JobStatus } from '@kiln/contracts';

/** What a live client (SSE) hears about a job: status changes and progress, cluster-wide. */
export interface JobEvent {
  job_id: string;
  status: JobStatus;
  progress: number;
  at: string;
}

/** Publishes job events on Redis pub/sub, so a client on any gateway replica hears them. */
export class JobEvents {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  channelFor(jobId: string): string {
    return `${this.prefix}:events:${jobId}`;
  }

  get cancelChannel(): string {
    return `${this.prefix}:cancel`;
  }

  async publish(jobId: string, status: JobStatus, progress: number): Promise<void> {
    const event: JobEvent = { job_id: jobId, status, progress, at: new Date().toISOString() };
    await this.redis.publish(this.channelFor(jobId), JSON.stringify(event)).catch(() => undefined);
  }

  /** Tells every converter to stop the job's running conversions. */
  async publishCancel(jobId: string): Promise<void> {
    await this.redis.publish(this.cancelChannel, jobId);
  }
}

/**
 * One subscriber connection per process, fanned out to local listeners by channel. Listeners are
 * added and removed as clients come and go; the Redis subscription follows the listener count.
 */
export class ChannelFanout {
  private readonly listeners = new Map<string, Set<(message: string) => void>>();
  /** The SUBSCRIBE of each channel: a second listener also waits until Redis has confirmed it. */
  private readonly subscribed = new Map<string, Promise<unknown>>();

  constructor(private readonly subscriber: RedisClient) {
    subscriber.on('message', (channel: string, message: string) => {
      for (const l of this.listeners.get(channel) ?? []) l(message);
    });
  }

  async listen(channel: string, listener: (message: string) => void): Promise<() => Promise<void>> {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      this.subscribed.set(channel, this.subscriber.subscribe(channel));
    }
    set.add(listener);
    const unlisten = async () => {
      const s = this.listeners.get(channel);
      if (!s) return;
      s.delete(listener);
      if (!s.size) {
        this.listeners.delete(channel);
        this.subscribed.delete(channel);
        await this.subscriber.unsubscribe(channel).catch(() => undefined);
      }
    };
    try {
      await this.subscribed.get(channel);
    } catch (err: unknown) {
      await unlisten();
      throw err;
    }
    return unlisten;
  }

  close(): void {
    this.listeners.clear();
    this.subscriber.disconnect();
  }
}
