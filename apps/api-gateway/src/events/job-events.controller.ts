import { Controller, Get, Inject, Param, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { FINAL_JOB_STATUSES, type JobStatus } from '@kiln/contracts';
import { ChannelFanout, JobEvents, type JobEvent } from '@kiln/queue';
import { jobView } from '@kiln/workflow';
import { AllowJobToken, KeyScope } from '../auth/auth.guard';
import { Caller } from '../auth/principal.decorator';
import type { Principal } from '../auth/principal';
import { JobsService } from '../jobs/jobs.service';
import { KeyLimits } from '../limits/key-limits.service';

const HEARTBEAT_MS = 15_000;

/**
 * `GET /v1/jobs/{id}/events`: Server-Sent Events of a job's status and progress, then the final
 * job (`event: job`) and the end of the stream. Works on any gateway replica (Redis pub/sub).
 * Events: `status` {job_id, status, progress, at} whenever either changes; `job` the Job JSON.
 */
@Controller('v1/jobs')
@KeyScope('jobs:read')
export class JobEventsController {
  constructor(
    private readonly jobs: JobsService,
    @Inject(JobEvents) private readonly events: JobEvents,
    @Inject(ChannelFanout) private readonly fanout: ChannelFanout,
    private readonly limits: KeyLimits,
  ) {}

  @Get(':id/events')
  @AllowJobToken()
  async stream(
    @Caller() caller: Principal,
    @Param('id') id: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.jobs.loadOwned(caller, id); // 404/403 as JSON before the stream starts
    const release = await this.limits.openEventStream(caller.ownerKeyHash); // 429 as JSON past the key's streams
    res.on('close', () => void release());
    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    let closed = false;
    let lastSent = '';
    const send = (event: string, data: unknown) => {
      if (closed) return;
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const finish = async () => {
      if (closed) return;
      const job = await this.jobs.loadOwned(caller, id).catch(() => null);
      if (job) send('job', await jobView(job, this.jobs.signOutput));
      closed = true;
      res.end();
    };
    const onEvent = (message: string) => {
      const e = JSON.parse(message) as JobEvent;
      const key = `${e.status}/${e.progress}`;
      if (key === lastSent) return;
      lastSent = key;
      send('status', e);
      if (FINAL_JOB_STATUSES.includes(e.status)) void finish();
    };
    // Subscribe first, then send the snapshot, so nothing falls between the two.
    const stop = await this.fanout.listen(this.events.channelFor(id), onEvent);
    const heartbeat = setInterval(() => !closed && res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    const cleanup = () => {
      closed = true;
      clearInterval(heartbeat);
      void stop();
    };
    req.on('close', cleanup);
    res.on('close', cleanup);
    const now = await this.jobs.loadOwned(caller, id);
    onEvent(
      JSON.stringify({
        job_id: id,
        status: now.status as JobStatus,
        progress: now.progress,
        at: new Date().toISOString(),
      } satisfies JobEvent),
    );
    if (FINAL_JOB_STATUSES.includes(now.status as JobStatus)) await finish();
  }
}
