import type { JobError, JobStatus } from '@kiln/contracts';
import { STOPPED_JOB_STATUSES } from '@kiln/contracts';
import type { Conversion, Input, Output } from '@kiln/database';

/**
 * The job lifecycle's decisions as pure functions of the rows JobLifecycle has read (under its row
 * lock). JobLifecycle reads, asks these, then writes what they answer; unit tests ask them directly.
 */

export type InputRow = Pick<Input, 'id' | 'type' | 'status' | 'filename' | 'source' | 'error'>;
export type ConversionRow = Pick<Conversion, 'id' | 'target'>;
export type OutputRow = Pick<Output, 'id' | 'inputId' | 'conversionId' | 'status' | 'error' | 'errorCode'>;
export interface JobRow {
  status: string;
  process: boolean;
}

/** The error of an input that was not ready when its job started processing (it can never join). */
export const NOT_READY_AT_START = 'the job started processing before this input was ready';
/** How a unit whose convert job ended without recording an outcome is failed by finalize. */
export const RETRIES_EXHAUSTED = {
  code: 'internal',
  message: 'the conversion stopped unexpectedly (retries exhausted)',
} as const;

/** BullMQ priorities run from 1 (first) to 2,097,152. */
export function fairPriority(backlogAhead: number): number {
  return Math.min(2_097_152, 1 + Math.max(0, backlogAhead));
}

/** Input states in which bytes may still arrive. */
const IN_FLIGHT = new Set(['pending', 'uploading', 'assembling']);
/** Unit states after which a unit records nothing more. */
const UNIT_ENDED = new Set(['completed', 'failed', 'canceled']);
/** Job states from which a process:true job may start (or fail for want of inputs). */
const WAITING = new Set(['incomplete', 'downloading']);

/** A process:true job that has not started: it waits for its inputs (and may start or fail on them). */
export function waitsForInputs(job: JobRow | undefined): job is JobRow {
  return !!job && job.process && WAITING.has(job.status);
}

export type StartRefusal =
  | 'no such job'
  | 'not set to process'
  | 'already started or ended'
  | 'no ready input'
  | 'no conversion'
  | 'remote inputs still fetching'
  | 'an input is assembling';

/** What startIfReady does with a locked job row, before it reads the job's inputs. */
export type StartGate = { go: 'plan' } | { go: 'resend' } | { go: 'no'; reason: StartRefusal };

export function startGate(job: JobRow | undefined): StartGate {
  if (!job) return { go: 'no', reason: 'no such job' };
  if (!job.process) return { go: 'no', reason: 'not set to process' };
  // Already decided: its queued units are sent again (fixed BullMQ ids make that harmless).
  if (job.status === 'queued') return { go: 'resend' };
  if (!WAITING.has(job.status)) return { go: 'no', reason: 'already started or ended' };
  return { go: 'plan' };
}

export type StartPlan =
  | { start: false; reason: StartRefusal | 'already queued' }
  | {
      start: true;
      /** One unit of work per ready input × conversion, input by input. */
      units: { inputId: string; conversionId: string }[];
      /** Inputs not ready now: they fail with NOT_READY_AT_START. */
      failInputIds: string[];
    };

/**
 * Whether a job starts now, and with which units. Uploads follow the contract: the first ready
 * file starts the job. Remote inputs were part of the job's request: every fetch ends first. An
 * input being assembled is almost ready: the job waits for it.
 */
export function planStart(job: JobRow | undefined, inputs: InputRow[], conversions: ConversionRow[]): StartPlan {
  const gate = startGate(job);
  if (gate.go === 'no') return { start: false, reason: gate.reason };
  if (gate.go === 'resend') return { start: false, reason: 'already queued' };
  const ready = inputs.filter((i) => i.status === 'ready');
  if (!ready.length) return { start: false, reason: 'no ready input' };
  if (!conversions.length) return { start: false, reason: 'no conversion' };
  if (inputs.some((i) => i.type === 'remote' && IN_FLIGHT.has(i.status)))
    return { start: false, reason: 'remote inputs still fetching' };
  if (inputs.some((i) => i.status === 'assembling')) return { start: false, reason: 'an input is assembling' };
  return {
    start: true,
    units: ready.flatMap((input) => conversions.map((c) => ({ inputId: input.id, conversionId: c.id }))),
    failInputIds: inputs.filter((i) => i.status !== 'ready' && i.status !== 'failed').map((i) => i.id),
  };
}

/** After an input failed for good (`failedInputId`, with `code`): what becomes of its job. */
export type InputFailureOutcome =
  | { next: 'nothing' }
  | { next: 'wait' }
  | { next: 'try-start' }
  | { next: 'fail'; errors: JobError[]; callback: boolean };

/**
 * A process:true job still waiting for inputs fails once none could start it any more: errors name
 * every failed input, and the job's callback is sent when it has one. While an input is ready it may
 * start; while one is still arriving it waits. Jobs not waiting (not processing, started, ended) are
 * left alone.
 */
export function inputFailureOutcome(
  job: (JobRow & { callback: string | null }) | undefined,
  inputs: InputRow[],
  failedInputId: string,
  code: string,
): InputFailureOutcome {
  if (!waitsForInputs(job)) return { next: 'nothing' };
  if (inputs.some((i) => i.status === 'ready')) return { next: 'try-start' };
  if (inputs.some((i) => IN_FLIGHT.has(i.status))) return { next: 'wait' };
  const errors = inputs
    .filter((i) => i.status === 'failed')
    .map<JobError>((i) => ({
      code: i.id === failedInputId ? code : 'unprocessable',
      message: `${i.filename ?? i.source ?? i.id}: ${i.error ?? 'failed'}`,
      source: 'input',
      input_id: i.id,
    }));
  return { next: 'fail', errors, callback: Boolean(job.callback) };
}

export type FinalOutcome =
  | { decided: false; status: JobStatus }
  | {
      decided: true;
      status: 'completed' | 'failed';
      /** Units that never recorded an outcome (retries exhausted): failed with RETRIES_EXHAUSTED. */
      stuckUnitIds: string[];
      errors: JobError[];
      conversions: { id: string; status: 'completed' | 'failed'; error: string | null }[];
    };

/**
 * A job whose units have all run: `completed` when every unit completed, else `failed` with errors
 * naming the input and conversion. A unit that has not ended counts as failed (retries exhausted).
 * A job already final (e.g. canceled) keeps its status. Inputs that failed without any unit are named
 * too, except those left behind when processing started (they were never part of the work).
 */
export function finalOutcome(
  job: Pick<JobRow, 'status'>,
  inputs: InputRow[],
  outputs: OutputRow[],
  conversions: ConversionRow[],
): FinalOutcome {
  if (STOPPED_JOB_STATUSES.includes(job.status as JobStatus))
    return { decided: false, status: job.status as JobStatus };
  const stuckUnitIds = outputs.filter((o) => !UNIT_ENDED.has(o.status)).map((o) => o.id);
  const units = outputs.map((o) =>
    UNIT_ENDED.has(o.status)
      ? o
      : { ...o, status: 'failed', errorCode: RETRIES_EXHAUSTED.code, error: RETRIES_EXHAUSTED.message },
  );
  const errors: JobError[] = [
    ...inputs
      .filter((i) => i.status === 'failed' && !units.some((o) => o.inputId === i.id))
      .filter((i) => !/started processing before/.test(i.error ?? ''))
      .map<JobError>((i) => ({
        code: 'unprocessable',
        message: i.error ?? 'input failed',
        source: 'input',
        input_id: i.id,
      })),
    ...units
      .filter((o) => o.status === 'failed')
      .map<JobError>((o) => {
        const input = inputs.find((i) => i.id === o.inputId);
        const conv = conversions.find((c) => c.id === o.conversionId);
        return {
          code: o.errorCode ?? 'internal',
          message: `${input?.filename ?? o.inputId} → ${conv?.target ?? o.conversionId}: ${o.error ?? 'failed'}`,
          source: 'conversion',
          input_id: o.inputId,
          conversion_id: o.conversionId,
        };
      }),
  ];
  const ok = units.length > 0 && units.every((o) => o.status === 'completed');
  return {
    decided: true,
    status: ok ? 'completed' : 'failed',
    stuckUnitIds,
    errors,
    conversions: conversions.map((c) => {
      const mine = units.filter((o) => o.conversionId === c.id);
      const failed = mine.find((o) => o.status === 'failed');
      return { id: c.id, status: failed || !mine.length ? 'failed' : 'completed', error: failed?.error ?? null };
    }),
  };
}
