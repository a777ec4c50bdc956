import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { Response } from 'express';
import { FINAL_JOB_STATUSES, KilnError, type JobStatus } from '@kiln/contracts';
import { KilnMetrics } from '@kiln/observability';
import { ChannelFanout, JobEvents, type JobEvent } from '@kiln/queue';
import { jobView, outputView, type JobView, type JobWithChildren, type OutputView } from '@kiln/workflow';
import type { Principal } from '../auth/principal';
import { parseOrThrow } from '../http/validation';
import { JobsService } from './jobs.service';
import { latestOutputQuery, waitQuery } from './job-wait.schemas';

const isFinal = (status: string) => FINAL_JOB_STATUSES.includes(status as JobStatus);

/** Why a wait ended. */
type Wake = 'ended' | 'deadline' | 'gone' | 'shutdown';

/**
 * `?wait=N`: the answer is held until the job ends (a final status event on the job's Redis channel,
 * heard through the gateway's one fanned-out subscription per channel, as the SSE stream does) or
 * until N seconds have passed, and is then the job as stored. No polling: a waiter costs a listener,
 * and one database read when it ends. A client that leaves stops its listener; a gateway shutting
 * down answers its waiters at once with the current state.
 */
@Injectable()
export class JobWaitService implements OnModuleDestroy {
  private readonly waking = new Set<(why: Wake) => void>();
  private stopping = false;

  constructor(
    private readonly jobs: JobsService,
    @Inject(JobEvents) private readonly events: JobEvents,
    @Inject(ChannelFanout) private readonly fanout: ChannelFanout,
    @Inject(KilnMetrics) private readonly metrics: KilnMetrics,
  ) {}

  /** `GET /v1/jobs/{id}?wait=N`. */
  async get(caller: Principal, id: string, query: unknown, res: Response): Promise<JobView> {
    const { wait } = parseOrThrow(waitQuery, query, 'query');
    const job = await this.untilEnded(caller, id, wait ?? 0, res);
    return jobView(job, this.jobs.signOutput);
  }

  /**
   * `POST /v1/jobs?wait=N`: `wait` is checked before anything is stored. A job created `incomplete`
   * (uploads to come, or process: false) is answered at once: it cannot end without another request,
   * and its token is needed for the upload.
   */
  async create(caller: Principal, body: unknown, query: unknown, res: Response): Promise<JobView> {
    const { wait } = parseOrThrow(waitQuery, query, 'query');
    const created = await this.jobs.create(caller, body);
    if (!wait || created.status.code === 'incomplete' || isFinal(created.status.code)) return created;
    const job = await this.untilEnded(caller, created.id, wait, res);
    return jobView(job, this.jobs.signOutput, { includeToken: true });
  }

  /**
   * `GET /v1/jobs/{id}/output/latest`: the one output of a completed job (after waiting, with `wait`),
   * as JSON or, with `redirect=true`, as its download URL. 409 while the job has not completed, when
   * it failed or was canceled, and when it has several outputs (pick one from GET …/output).
   */
  async latestOutput(
    caller: Principal,
    id: string,
    query: unknown,
    res: Response,
  ): Promise<{ redirect: string } | { output: OutputView }> {
    const q = parseOrThrow(latestOutputQuery, query, 'query');
    const job = await this.untilEnded(caller, id, q.wait ?? 0, res);
    if (job.status !== 'completed') {
      throw new KilnError(
        'conflict',
        isFinal(job.status)
          ? `The job has ended ${job.status}; it has no output to give.`
          : `The job is ${job.status}; its output is not ready yet (add ?wait=<seconds> to wait for it).`,
        [{ field: 'status', message: job.status }],
      );
    }
    const outputs = job.outputs.filter((o) => o.status === 'completed');
    if (outputs.length !== 1) {
      throw new KilnError(
        'conflict',
        `The job has ${outputs.length} outputs; pick one from GET /v1/jobs/${id}/output.`,
        [{ field: 'output', message: `${outputs.length} outputs` }],
      );
    }
    const sign = this.jobs.signOutput;
    if (q.redirect === 'true') return { redirect: await sign(outputs[0], job) };
    return { output: await outputView(outputs[0], sign, job) };
  }

  /**
   * The job once it has ended, or as it is after `seconds`. Subscribes before reading the job, so an
   * end between the read and the subscription cannot be missed. 404/403 as for GET (nothing held).
   */
  async untilEnded(caller: Principal, id: string, seconds: number, res: Response): Promise<JobWithChildren> {
    if (seconds === 0 || this.stopping) return this.jobs.loadOwned(caller, id);
    let wake!: (why: Wake) => void;
    const woken = new Promise<Wake>((resolve) => {
      wake = resolve;
    });
    const onEvent = (message: string) => {
      if (isFinal((JSON.parse(message) as JobEvent).status)) wake('ended');
    };
    const onGone = () => wake('gone');
    const stop = await this.fanout.listen(this.events.channelFor(id), onEvent);
    const timer = setTimeout(() => wake('deadline'), seconds * 1000);
    res.once('close', onGone);
    let held = false;
    try {
      const now = await this.jobs.loadOwned(caller, id);
      // Ended already, or the gateway began stopping meanwhile: answered at once.
      if (isFinal(now.status) || this.stopping) return now;
      this.waking.add(wake);
      this.metrics.jobWaits.inc();
      held = true;
      const why = await woken;
      return why === 'gone' ? now : await this.jobs.loadOwned(caller, id);
    } finally {
      clearTimeout(timer);
      res.off('close', onGone);
      if (held) {
        this.waking.delete(wake);
        this.metrics.jobWaits.dec();
      }
      await stop();
    }
  }

  /** Nest calls this before the HTTP server closes: every waiter answers with the job as it is now. */
  onModuleDestroy(): void {
    this.stopping = true;
    for (const wake of this.waking) wake('shutdown');
  }
}
