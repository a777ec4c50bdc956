/**
 * Queue names and payloads: the contract between the apps (shared/design/ARCHITECTURE.md).
 * Every payload names the ids it works on; the BullMQ job id is derived from them in one place
 * (`jobIdFor`) so a re-enqueue of the same unit of work is a no-op.
 */
export const QueueName = {
  assemble: 'assemble',
  fetch: 'fetch',
  convert: 'convert',
  convertVips: 'convert-vips',
  convertOffice: 'convert-office',
  finalize: 'finalize',
  callback: 'callback',
  maintenance: 'maintenance',
} as const;
export type QueueName = (typeof QueueName)[keyof typeof QueueName];

export interface QueuePayloads {
  assemble: { uploadId: string };
  fetch: { jobId: string; inputId: string };
  /** `engine` picks the unit's queue (convertQueueFor); absent means ffmpeg. */
  convert: {
    jobId: string;
    inputId: string;
    conversionId: string;
    outputId: string;
    engine?: import('./catalog').EngineName;
  };
  'convert-vips': QueuePayloads['convert'];
  'convert-office': QueuePayloads['convert'];
  finalize: { jobId: string };
  callback: { jobId: string; deliveryId: string; event: import('./status').CallbackEvent };
  maintenance: { task: 'expire-uploads' | 'stale-multipart' | 'requeue-queued' | 'expire-jobs' | 'sweep-orphans' };
}

export type PayloadOf<Q extends QueueName> = QueuePayloads[Q];

/** Deterministic BullMQ job ids (":" is reserved by BullMQ, so "." separates the parts). */
export function jobIdFor<Q extends QueueName>(queue: Q, payload: PayloadOf<Q>): string {
  switch (queue) {
    case 'assemble':
      return `assemble.${(payload as PayloadOf<'assemble'>).uploadId}`;
    case 'fetch':
      return `fetch.${(payload as PayloadOf<'fetch'>).inputId}`;
    case 'convert':
      return `convert.${(payload as PayloadOf<'convert'>).outputId}`;
    case 'convert-vips':
    case 'convert-office':
      return `${queue}.${(payload as PayloadOf<'convert'>).outputId}`;
    case 'finalize':
      return `finalize.${(payload as PayloadOf<'finalize'>).jobId}`;
    case 'callback':
      return `callback.${(payload as PayloadOf<'callback'>).deliveryId}`;
    case 'maintenance':
      return `maintenance.${(payload as PayloadOf<'maintenance'>).task}`;
    default:
      throw new Error(`unknown queue ${String(queue)}`);
  }
}

/** The queues that carry conversion units, one per engine (catalog.ts `EngineName`). */
export type ConvertQueueName = 'convert' | 'convert-vips' | 'convert-office';

/** The queue of `engine`'s units: ffmpeg keeps the original `convert` queue. */
export function convertQueueFor(engine: import('./catalog').EngineName | null | undefined): ConvertQueueName {
  if (engine === 'vips') return 'convert-vips';
  if (engine === 'office') return 'convert-office';
  return 'convert';
}

export const CONVERT_QUEUES: readonly ConvertQueueName[] = ['convert', 'convert-vips', 'convert-office'];

/** What a handler reports for a unit of work; expected failures are outcomes, not exceptions. */
export type HandlerOutcome =
  | { status: 'success'; detail?: string }
  | { status: 'skipped'; reason: string }
  | { status: 'failed'; code: string; message: string };
