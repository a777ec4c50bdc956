import { timingSafeEqual, createHash } from 'node:crypto';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * BullMQ job states exported as `kiln_queue_jobs{state}` (completed is history, not load). A job
 * added with a priority waits in the `prioritized` set, not in the `wait` list: Kiln's fair share
 * gives every convert unit a priority, so its queued units are all `prioritized`.
 */
export const QUEUE_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];
export type QueueStateCounts = Partial<Record<QueueState, number>>;

/** One queue's depth as an autoscaler reads it (`GET /metrics/queues` of the gateway). */
export interface QueueDepth {
  waiting: number;
  prioritized: number;
  active: number;
  delayed: number;
  failed: number;
  /** Jobs ready to run that no worker holds yet: waiting + prioritized. */
  backlog: number;
  /** Jobs that want a worker slot now: backlog + active (what a worker count is sized on). */
  demand: number;
}

/** The depth of one queue from its state counts (a missing state counts 0). */
export function queueDepth(counts: QueueStateCounts): QueueDepth {
  const n = (state: QueueState) => counts[state] ?? 0;
  const backlog = n('waiting') + n('prioritized');
  return {
    waiting: n('waiting'),
    prioritized: n('prioritized'),
    active: n('active'),
    delayed: n('delayed'),
    failed: n('failed'),
    backlog,
    demand: backlog + n('active'),
  };
}

export type UploadKind = 'whole' | 'chunk';
export type CallbackAttemptOutcome = 'delivered' | 'retry' | 'failed' | 'refused';
export type AssemblyMode = 'compose' | 'stream';

export interface KilnMetricsOptions {
  /** `app` label on every series (api-gateway, assembler, converter). */
  app: string;
  /** Live ffmpeg children of this process (the converter passes `runningProcessCount` of @kiln/media). */
  ffmpegProcesses?: () => number;
}

export interface QueueWatchOptions {
  /** A scrape storm reads Redis at most once per this many ms. Default 1000. */
  cacheMs?: number;
  /** A read of the counts gives up after this long (the queue series are then left out). Default 2000. */
  timeoutMs?: number;
  onError?: (err: unknown) => void;
}

const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const CONVERSION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600];

/**
 * The Prometheus metrics of one Kiln process: one registry with the default process metrics
 * (`kiln_process_*`, `kiln_nodejs_*`) and the product metrics, each defined here once. An app
 * creates exactly one and serves `registry.metrics()` at `/metrics`. Every label takes a bounded
 * set of values (route patterns, queue names, catalog targets, fixed outcomes), never ids or URLs.
 */
export class KilnMetrics {
  readonly registry = new Registry();

  /** Gateway: every answered request, by Express route pattern (`unmatched` when none matched). */
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
  /** Gateway: body bytes of uploads accepted into storage (whole files, or chunks, re-sends included). */
  readonly uploadBytesReceived: Counter<'kind'>;
  /** Gateway: requests streaming a file or chunk right now. */
  readonly uploadsInProgress: Gauge;
  /** Direct upload sessions (bytes straight to S3) by transfer and event. */
  readonly directUploads: Counter<'transfer' | 'event'>;
  /** Bytes of completed direct uploads: in S3 without passing through the gateway. */
  readonly directUploadBytes: Counter<'transfer'>;
  /** Presigned UploadPart URLs handed out for direct multipart uploads. */
  readonly directPartUrls: Counter;
  /** Gateway: requests held open by `?wait=` until their job ends. */
  readonly jobWaits: Gauge;
  /** Gateway: BullMQ jobs per queue and state, read on scrape (see `watchQueues`). */
  readonly queueJobs: Gauge<'queue' | 'state'>;
  /** Gateway: jobs ready to run and not yet taken (waiting + prioritized) per queue, read on scrape. */
  readonly queueBacklog: Gauge<'queue'>;
  /** Converter: one convert unit, from pick-up to outcome (success, failed, skipped, error = thrown, retried). */
  readonly conversionDuration: Histogram<'target' | 'outcome'>;
  /** Converter: callback POST attempts. */
  readonly callbackAttempts: Counter<'outcome'>;
  /** Converter: ffmpeg children alive, read on scrape. */
  readonly ffmpegProcesses: Gauge;
  /** Assembler: uploads stitched, by server-side compose or streaming through the process. */
  readonly assemblies: Counter<'mode' | 'outcome'>;
  /** Assembler: work the reconciler found lost (PostgreSQL says it should move, Redis had none) and re-drove. */
  readonly reconcilerRepairs: Counter<'repair'>;

  private queueSnapshot?: () => Promise<Map<string, QueueStateCounts> | null>;

  constructor(options: KilnMetricsOptions) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ app: options.app });
    collectDefaultMetrics({ register: this.registry, prefix: 'kiln_' });

    this.httpRequestDuration = new Histogram({
      name: 'kiln_http_request_duration_seconds',
      help: 'HTTP requests answered by the gateway, by method, Express route pattern and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.uploadBytesReceived = new Counter({
      name: 'kiln_upload_bytes_received_total',
      help: 'Upload body bytes accepted by the gateway (kind: whole file or chunk).',
      labelNames: ['kind'],
      registers,
    });
    this.directUploads = new Counter({
      name: 'kiln_direct_uploads_total',
      help: 'Direct upload sessions by transfer (form, multipart) and event: opened; completed (S3 held exactly the declared file); refused (a complete found missing or wrong parts, or another size).',
      labelNames: ['transfer', 'event'],
      registers,
    });
    this.directUploadBytes = new Counter({
      name: 'kiln_direct_upload_bytes_total',
      help: 'Bytes of completed direct uploads, by transfer: they reached S3 without passing through the gateway.',
      labelNames: ['transfer'],
      registers,
    });
    this.directPartUrls = new Counter({
      name: 'kiln_direct_part_urls_signed_total',
      help: 'Presigned UploadPart URLs handed out for direct multipart uploads.',
      registers,
    });
    this.uploadsInProgress = new Gauge({
      name: 'kiln_uploads_in_progress',
      help: 'Requests currently streaming an upload (file or chunk) through this gateway.',
      registers,
    });
    this.jobWaits = new Gauge({
      name: 'kiln_job_waits',
      help: 'Requests held open by ?wait= on this gateway until their job ends or their deadline passes.',
      registers,
    });
    const self = this;
    this.queueJobs = new Gauge({
      name: 'kiln_queue_jobs',
      help: 'BullMQ jobs per queue and state (read from Redis on scrape, cached about 1 s).',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        if (!self.queueSnapshot) return;
        const snapshot = await self.queueSnapshot();
        this.reset();
        if (!snapshot) return;
        for (const [queue, counts] of snapshot)
          for (const state of QUEUE_STATES) this.set({ queue, state }, counts[state] ?? 0);
      },
    });
    this.queueBacklog = new Gauge({
      name: 'kiln_queue_backlog',
      help: 'BullMQ jobs ready to run and not yet taken by a worker (waiting + prioritized) per queue; read on scrape, cached about 1 s.',
      labelNames: ['queue'],
      registers,
      async collect() {
        if (!self.queueSnapshot) return;
        const snapshot = await self.queueSnapshot();
        this.reset();
        if (!snapshot) return;
        for (const [queue, counts] of snapshot) this.set({ queue }, queueDepth(counts).backlog);
      },
    });
    this.conversionDuration = new Histogram({
      name: 'kiln_conversion_duration_seconds',
      help: 'Convert units (one input x one conversion) by target and outcome.',
      labelNames: ['target', 'outcome'],
      buckets: CONVERSION_BUCKETS,
      registers,
    });
    this.callbackAttempts = new Counter({
      name: 'kiln_callback_attempts_total',
      help: 'Callback POST attempts by outcome (delivered, retry, failed = final, refused = address not allowed).',
      labelNames: ['outcome'],
      registers,
    });
    const ffmpeg = options.ffmpegProcesses;
    this.ffmpegProcesses = new Gauge({
      name: 'kiln_ffmpeg_processes',
      help: 'ffmpeg processes running under this process.',
      registers,
      collect() {
        if (ffmpeg) this.set(ffmpeg());
      },
    });
    this.assemblies = new Counter({
      name: 'kiln_assemblies_total',
      help: 'Upload assemblies by mode (compose = server-side, stream = through the assembler) and outcome.',
      labelNames: ['mode', 'outcome'],
      registers,
    });
    this.reconcilerRepairs = new Counter({
      name: 'kiln_reconciler_repairs_total',
      help: 'Lost work re-driven by the reconciler: units, finalize, callback, missing-callback, cancel, schedule.',
      labelNames: ['repair'],
      registers,
    });
  }

  /**
   * Exports `kiln_queue_jobs` and `kiln_queue_backlog` for these queues, read with `counts` on scrape
   * (and by `queueDepths`). Reads are shared by concurrent scrapes and cached for `cacheMs`; a failed
   * or slow read leaves the series out.
   */
  watchQueues(
    queues: readonly string[],
    counts: (queue: string) => Promise<QueueStateCounts>,
    options: QueueWatchOptions = {},
  ): void {
    const timeoutMs = options.timeoutMs ?? 2_000;
    this.queueSnapshot = cachedFor(options.cacheMs ?? 1_000, async () => {
      try {
        const all = await withTimeout(Promise.all(queues.map(async (q) => [q, await counts(q)] as const)), timeoutMs);
        return new Map(all);
      } catch (err: unknown) {
        options.onError?.(err);
        return null;
      }
    });
  }

  /**
   * The depth of every watched queue from the same cached read as the scrape; null when the counts
   * cannot be read now (Redis down or slow) or no queues are watched.
   */
  async queueDepths(): Promise<Record<string, QueueDepth> | null> {
    const snapshot = await this.queueSnapshot?.();
    if (!snapshot) return null;
    return Object.fromEntries([...snapshot].map(([queue, counts]) => [queue, queueDepth(counts)]));
  }

  /** Runs `fn` counted in `kiln_uploads_in_progress`. */
  async trackUpload<T>(fn: () => Promise<T>): Promise<T> {
    this.uploadsInProgress.inc();
    try {
      return await fn();
    } finally {
      this.uploadsInProgress.dec();
    }
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * Memoises an async read for `ttlMs` after it settles; calls while a read is running share it.
 * `now` is injectable for tests.
 */
export function cachedFor<T>(ttlMs: number, read: () => Promise<T>, now: () => number = Date.now): () => Promise<T> {
  let current: Promise<T> | undefined;
  let settledAt = Number.NEGATIVE_INFINITY;
  let running = false;
  return () => {
    if (current && (running || now() - settledAt < ttlMs)) return current;
    running = true;
    const p = read().finally(() => {
      running = false;
      settledAt = now();
    });
    current = p;
    return p;
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Whether a request may read `/metrics`: always when no token is configured, otherwise only with
 * `Authorization: Bearer <token>` (compared in constant time).
 */
export function metricsAuthorized(authorization: string | undefined, token: string | undefined): boolean {
  if (!token) return true;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!m) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1]), digest(token));
}
