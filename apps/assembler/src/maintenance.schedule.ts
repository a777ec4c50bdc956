import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { QueueName, type PayloadOf } from '@kiln/contracts';
import { QueueProducer } from '@kiln/queue';

/** The repeatable maintenance tasks and how often each runs. */
const TASKS: { task: PayloadOf<'maintenance'>['task']; every: number }[] = [
  { task: 'expire-uploads', every: 10 * 60_000 },
  { task: 'requeue-queued', every: 60_000 },
  { task: 'stale-multipart', every: 6 * 3600_000 },
  // Expired jobs' files and rows (KILN_JOB_RETENTION_SECONDS or the job's expires_at).
  { task: 'expire-jobs', every: 10 * 60_000 },
  // Objects no row owns, older than KILN_ORPHAN_MIN_AGE_SECONDS: a listing of the bucket, so rarely.
  { task: 'sweep-orphans', every: 6 * 3600_000 },
];

/** Registers the repeatable maintenance tasks (BullMQ job schedulers: one per task, cluster-wide). */
@Injectable()
export class MaintenanceSchedule implements OnApplicationBootstrap {
  constructor(@Inject(QueueProducer) private readonly producer: QueueProducer) {}

  async onApplicationBootstrap(): Promise<void> {
    for (const t of TASKS) await this.register(t);
  }

  /**
   * Registers again the schedulers Redis no longer holds (it lost its state): the count registered.
   * Called by the reconciler, whose own loop does not live in Redis.
   */
  async ensure(): Promise<number> {
    const q = this.producer.queue(QueueName.maintenance);
    let registered = 0;
    for (const t of TASKS) {
      if (await q.getJobScheduler(t.task)) continue;
      await this.register(t);
      registered++;
    }
    return registered;
  }

  private async register({ task, every }: (typeof TASKS)[number]): Promise<void> {
    await this.producer
      .queue(QueueName.maintenance)
      .upsertJobScheduler(task, { every }, { name: 'maintenance', data: { task } });
  }
}
