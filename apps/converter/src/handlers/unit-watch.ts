/**
 * A converter's watch over the unit it holds, for the whole unit (download, probe, ffmpeg, upload):
 * a heartbeat every few seconds keeps the unit's `heartbeat_at` fresh (the reconciler leaves a unit
 * with a fresh heartbeat alone) and touches its scratch folder (other converters' sweeps leave it
 * alone). The heartbeat and every progress report are also how the converter hears, from
 * PostgreSQL, that it must stop: the job is being canceled, or another attempt holds the unit. That
 * works when the Redis cancel message never arrived (the converter was cut off from Redis when it
 * was published): `signal` aborts, which stops the download or kills ffmpeg.
 */
import type { PrismaClient } from '@kiln/database';
import type { JobLifecycle } from '@kiln/workflow';

/** Between heartbeats: a quarter of the reconciler's grace, within [200 ms, 5 s]. */
export function heartbeatPeriodMs(reconcileGraceMs: number): number {
  return Math.min(5_000, Math.max(200, Math.floor(reconcileGraceMs / 4)));
}

/** Why PostgreSQL refused a holder's heartbeat or progress: the skip reason of its unit. */
export async function stopReason(prisma: PrismaClient, jobId: string): Promise<string> {
  const job = await prisma.job.findUnique({ where: { id: jobId }, select: { status: true } });
  if (!job || job.status === 'canceling' || job.status === 'canceled') return 'job canceled';
  return 'lost the unit: it ended or another attempt holds it';
}

export interface WatchedUnit {
  jobId: string;
  outputId: string;
  lease: string;
}

export interface UnitWatchDeps {
  lifecycle: Pick<JobLifecycle, 'heartbeat'>;
  /** Why the holder must stop, once PostgreSQL said so: "job canceled" or "lost the unit …". */
  whyStopped: () => Promise<string>;
  /** Called on every beat (the scratch folder is touched). */
  onBeat?: () => Promise<void> | void;
  log: {
    info(fields: Record<string, unknown>, msg: string): void;
    warn(fields: Record<string, unknown>, msg: string): void;
  };
}

export class UnitWatch {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private beating = false;
  private stopping: Promise<void> | undefined;
  /** Set once the unit must stop: the skip reason. */
  reason: string | null = null;

  constructor(
    private readonly unit: WatchedUnit,
    private readonly periodMs: number,
    private readonly deps: UnitWatchDeps,
  ) {}

  /** Aborts when PostgreSQL says the holder must stop. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get stopped(): boolean {
    return this.reason !== null;
  }

  start(): this {
    this.timer = setInterval(() => void this.beat(), this.periodMs);
    this.timer.unref();
    return this;
  }

  /** The answer of a heartbeat or progress report: false stops the unit. */
  answer(holds: boolean): Promise<void> {
    if (holds || this.stopping) return this.stopping ?? Promise.resolve();
    this.stopping = this.stop();
    return this.stopping;
  }

  dispose(): void {
    clearInterval(this.timer);
  }

  private async beat(): Promise<void> {
    if (this.beating || this.stopping) return;
    this.beating = true;
    try {
      await this.deps.onBeat?.();
      const { jobId, outputId, lease } = this.unit;
      await this.answer(await this.deps.lifecycle.heartbeat(jobId, outputId, lease));
    } catch (err: unknown) {
      // PostgreSQL unreachable: keep working; the next beat asks again (a lost unit is fenced at the end).
      this.deps.log.warn({ ...this.unitFields(), err: String(err) }, 'heartbeat failed');
    } finally {
      this.beating = false;
    }
  }

  private async stop(): Promise<void> {
    this.dispose();
    this.reason = await this.deps.whyStopped().catch(() => 'lost the unit (it ended or another attempt holds it)');
    this.deps.log.info({ ...this.unitFields(), reason: this.reason }, 'unit stopped: PostgreSQL says it must');
    this.controller.abort(new Error(this.reason));
  }

  private unitFields() {
    return { jobId: this.unit.jobId, outputId: this.unit.outputId };
  }
}
