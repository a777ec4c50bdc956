import { randomBytes } from 'node:crypto';
import type { KilnConfig } from '@kiln/config';
import { KilnError } from '@kiln/contracts';
import type { RedisClient } from '@kiln/queue';
import { uploadLocked } from './upload-errors';

/**
 * A lock not renewed for this long belonged to a gateway that died mid-request; it lapses. Short
 * enough that a tus client's retries (tus-js-client and Uppy wait 0, 1, 3, 5 s) outlast it.
 */
export const UPLOAD_LOCK_TTL_MS = 8_000;

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/** One request's hold on an upload: renewed while it lives, released once. */
export class HeldUploadLock {
  private lost = false;
  private released = false;
  private lastRenewed = Date.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly redis: RedisClient,
    readonly key: string,
    private readonly token: string,
    private readonly ttlMs: number,
  ) {
    this.timer = setInterval(() => void this.renew(), Math.max(50, Math.floor(ttlMs / 3)));
    this.timer.unref();
  }

  /** Throws 423 once the lock lapsed (not renewed in time) or was taken over: the write must stop. */
  assertHeld(): void {
    if (this.lost || Date.now() - this.lastRenewed >= this.ttlMs) {
      this.lost = true;
      throw uploadLocked();
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    await this.redis.eval(RELEASE, 1, this.key, this.token).catch(() => undefined);
  }

  private async renew(): Promise<void> {
    if (this.released || this.lost) return;
    try {
      const ok = await this.redis.eval(RENEW, 1, this.key, this.token, String(this.ttlMs));
      if (ok === 1) this.lastRenewed = Date.now();
      else this.lost = true;
    } catch {
      // Redis unreachable for a moment: the lock counts as held until its TTL has passed.
    }
  }
}

/**
 * Per-upload locks in Redis, shared by every gateway replica (no sticky sessions): "check the
 * offset, then write" runs for one request at a time per upload. SET NX PX with a random token,
 * renewed while the request streams, released in `finally` by a compare-and-delete; a second
 * request finds it taken and gets 423 Locked at once instead of waiting.
 */
export class UploadLocks {
  constructor(
    private readonly redis: RedisClient,
    private readonly config: Pick<KilnConfig, 'KILN_QUEUE_PREFIX'>,
  ) {}

  key(uploadId: string): string {
    return `${this.config.KILN_QUEUE_PREFIX}:tus:lock:${uploadId}`;
  }

  async acquire(uploadId: string, ttlMs = UPLOAD_LOCK_TTL_MS): Promise<HeldUploadLock> {
    const token = randomBytes(16).toString('hex');
    const key = this.key(uploadId);
    const ok = await this.redis.set(key, token, 'PX', ttlMs, 'NX');
    if (ok !== 'OK') throw uploadLocked();
    return new HeldUploadLock(this.redis, key, token, ttlMs);
  }

  /**
   * A lock on one named piece of an upload (e.g. a multipart part number), waited for instead of
   * refused: a client that re-sends a chunk while the gateway still receives its first copy (a
   * retry after a dropped connection) waits for that request to end, then finds the bytes stored
   * or not. Past `waitMs` the answer is 409 conflict with Retry-After.
   */
  async acquireWaiting(
    uploadId: string,
    piece: string,
    waitMs: number,
    ttlMs = UPLOAD_LOCK_TTL_MS,
  ): Promise<HeldUploadLock> {
    const token = randomBytes(16).toString('hex');
    const key = `${this.config.KILN_QUEUE_PREFIX}:upload:lock:${uploadId}:${piece}`;
    const deadline = Date.now() + waitMs;
    for (let delay = 25; ; delay = Math.min(delay * 2, 250)) {
      if ((await this.redis.set(key, token, 'PX', ttlMs, 'NX')) === 'OK')
        return new HeldUploadLock(this.redis, key, token, ttlMs);
      if (Date.now() + delay > deadline) {
        throw new KilnError(
          'conflict',
          'Another request is sending the same bytes of this upload right now; try again shortly.',
          [{ field: 'Content-Range', message: 'range busy' }],
          { 'Retry-After': '1' },
        );
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** Runs `work` holding the upload's lock; released in every outcome. */
  async withLock<T>(uploadId: string, work: (lock: HeldUploadLock) => Promise<T>, ttlMs?: number): Promise<T> {
    const lock = await this.acquire(uploadId, ttlMs);
    try {
      return await work(lock);
    } finally {
      await lock.release();
    }
  }
}
