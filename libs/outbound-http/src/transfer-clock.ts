import type { ClientRequest, IncomingMessage } from 'node:http';

export interface TransferClockOptions {
  /** Longest time without a byte from the remote: DNS, connect, waiting for the answer, mid-body. */
  idleMs: number;
  /** Longest time for everything, over all hops. */
  totalMs: number;
  /** Aborts the transfer from outside (shutdown, a canceled job); its reason is the failure. */
  signal?: AbortSignal;
  /** The failure when the remote stays silent (`answered`: it had sent its headers). */
  idleError: (host: string, answered: boolean) => unknown;
  /** The failure when the whole transfer takes too long. */
  totalError: () => unknown;
}

/**
 * Time limits of one outbound transfer, over all its hops: `idleMs` without a byte from the remote
 * (time the answer waits on us, a full read buffer, does not count) and `totalMs` for everything.
 * On expiry the current request and answer are destroyed with the reason, which then surfaces from
 * whichever await is pending; `failure` holds it for the caller to prefer over the socket's error.
 */
export class TransferClock {
  failure: unknown;
  private req?: ClientRequest;
  private res?: IncomingMessage;
  private lastBytes = 0;
  private lastProgress = Date.now();
  private readonly ticker: NodeJS.Timeout;
  private readonly deadline: NodeJS.Timeout;
  private readonly onAbort: () => void;

  constructor(private readonly options: TransferClockOptions) {
    const { idleMs, totalMs, signal } = options;
    this.ticker = setInterval(() => this.check(), Math.max(20, Math.min(1000, Math.floor(idleMs / 4))));
    this.deadline = setTimeout(() => this.fail(options.totalError()), totalMs);
    this.onAbort = () => this.fail((signal?.reason as Error | undefined) ?? new Error('the worker is shutting down'));
    if (signal?.aborted) this.onAbort();
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Times this request (the current hop) from now on. */
  watch(req: ClientRequest): void {
    this.req = req;
    this.res = undefined;
    this.lastBytes = 0;
    this.lastProgress = Date.now();
    req.once('response', (res: IncomingMessage) => (this.res = res));
    if (this.failure !== undefined) req.destroy(this.failure as Error);
  }

  close(): void {
    clearInterval(this.ticker);
    clearTimeout(this.deadline);
    this.options.signal?.removeEventListener('abort', this.onAbort);
  }

  private check(): void {
    if (!this.req || this.failure !== undefined) return;
    const bytes = this.req.socket?.bytesRead ?? 0;
    // A full answer buffer means we are the slow side (e.g. storage backpressure), not the remote.
    const waitingOnUs = this.res !== undefined && this.res.readableLength >= this.res.readableHighWaterMark;
    if (bytes !== this.lastBytes || waitingOnUs) {
      this.lastBytes = bytes;
      this.lastProgress = Date.now();
      return;
    }
    if (Date.now() - this.lastProgress >= this.options.idleMs)
      this.fail(this.options.idleError(this.req.host, this.res !== undefined));
  }

  private fail(reason: unknown): void {
    this.failure ??= reason;
    this.res?.destroy(this.failure as Error);
    this.req?.destroy(this.failure as Error);
  }
}
