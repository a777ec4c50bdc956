import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { QueueName } from '@kiln/contracts';
import { QueueProducer } from '@kiln/queue';

/** Registers the repeatable maintenance tasks (BullMQ job schedulers: one per task, cluster-wide). */
@Injectable()
export class MaintenanceSchedule implements OnApplicationBootstrap {
  constructor(@Inject(QueueProducer) private readonly producer: QueueProducer) {}

  async onApplicationBootstrap(): Promise<void> {
    const q = this.producer.queue(QueueName.maintenance);
    await q.upsertJobScheduler(
      'expire-uploads',
      { every: 10 * 60_000 },
      { name: 'maintenance', data: { task: 'expire-uploads' } },
    );
    await q.upsertJobScheduler(
      'requeue-queued',
      { every: 60_000 },
      { name: 'maintenance', data: { task: 'requeue-queued' } },
    );
    await q.upsertJobScheduler(
      'stale-multipart',
      { every: 6 * 3600_000 },
      { name: 'maintenance', data: { task: 'stale-multipart' } },
    );
  }
}
