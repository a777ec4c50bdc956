import type { JobLifecycle } from '@kiln/workflow';
import { FinalizeHandler } from './finalize.handler';

/** A lifecycle whose finalize answers as told and records the jobs it was asked about. */
function handlerAnswering(result: Awaited<ReturnType<JobLifecycle['finalize']>>) {
  const asked: string[] = [];
  const lifecycle: Pick<JobLifecycle, 'finalize'> = {
    finalize: async (jobId) => {
      asked.push(jobId);
      return result;
    },
  };
  return { handler: new FinalizeHandler(lifecycle as JobLifecycle), asked };
}

describe('FinalizeHandler (flow parent: final status, then the callback)', () => {
  it('succeeds with the final status and says when the callback was queued', async () => {
    const { handler, asked } = handlerAnswering({ status: 'completed', callbackEnqueued: true });
    expect(await handler.handle({ jobId: 'job-1' })).toEqual({
      status: 'success',
      detail: 'completed, callback queued',
    });
    expect(asked).toEqual(['job-1']);
  });

  it('a failed or canceled job without a callback URL is still a success (the status is recorded)', async () => {
    expect(
      await handlerAnswering({ status: 'failed', callbackEnqueued: false }).handler.handle({ jobId: 'j' }),
    ).toEqual({
      status: 'success',
      detail: 'failed',
    });
    expect(
      await handlerAnswering({ status: 'canceled', callbackEnqueued: true }).handler.handle({ jobId: 'j' }),
    ).toEqual({
      status: 'success',
      detail: 'canceled, callback queued',
    });
  });

  it('skips a job that no longer exists (deleted while its units ran)', async () => {
    expect(await handlerAnswering(null).handler.handle({ jobId: 'gone' })).toEqual({
      status: 'skipped',
      reason: 'job no longer exists',
    });
  });
});
