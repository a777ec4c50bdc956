import { Injectable } from '@nestjs/common';
import type { HandlerOutcome, PayloadOf } from '@kiln/contracts';
import type { JobHandler } from '@kiln/queue';
import { JobLifecycle } from '@kiln/workflow';

/** Runs once every convert unit of a job has ended (BullMQ flow parent): final status, then the callback. */
@Injectable()
export class FinalizeHandler implements JobHandler<'finalize'> {
  readonly queue = 'finalize' as const;

  constructor(private readonly lifecycle: JobLifecycle) {}

  async handle({ jobId }: PayloadOf<'finalize'>): Promise<HandlerOutcome> {
    const result = await this.lifecycle.finalize(jobId);
    if (!result) return { status: 'skipped', reason: 'job no longer exists' };
    return { status: 'success', detail: `${result.status}${result.callbackEnqueued ? ', callback queued' : ''}` };
  }
}
