import { Inject, Injectable } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { FINAL_JOB_STATUSES, KilnError } from '@kiln/contracts';
import { PRISMA, type ApiKeyLimits, type Prisma, type PrismaClient } from '@kiln/database';
import { ApiKeys } from '../auth/api-keys.service';

type Db = PrismaClient | Prisma.TransactionClient;

/** Retry-After (seconds) of a refusal that lasts until the key's own work moves on. */
export const OPEN_UPLOADS_RETRY_AFTER_S = 60;
export const JOBS_IN_FLIGHT_RETRY_AFTER_S = 30;

/** Where an upload's size came from, named in a refusal (`size`, `Content-Length`, `Content-Range`, `Upload-Length`). */
export type SizeField = string;

/**
 * Per-key limits counted in PostgreSQL, the truth every gateway replica shares: open uploads, jobs
 * in flight, conversion units per job and stored bytes. A limit of 0 is off.
 *
 * Admission (`admitUpload`, `admitJob`) runs inside the transaction that creates the row, under a
 * per-key advisory lock, so concurrent requests on any replica cannot open more than the limit.
 * The storage quota is exact for declared sizes (sessions, chunked and tus uploads); a whole-file
 * upload of unknown size is checked before it streams and cut at the room left, so concurrent
 * whole-file uploads of one key may end a little over the quota together.
 */
@Injectable()
export class KeyQuotas {
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(KILN_CONFIG) private readonly config: KilnConfig,
    private readonly keys: ApiKeys,
  ) {}

  /** The key's own limit (a managed key's `limits`, whoever calls for it: key, job token, web page) over the server's. */
  private async limitOf(ownerKeyHash: string, name: keyof ApiKeyLimits, server: number): Promise<number> {
    const own = (await this.keys.limitsOf(ownerKeyHash))?.[name];
    return own ?? server;
  }

  private quotaOf(ownerKeyHash: string): Promise<number> {
    return this.limitOf(ownerKeyHash, 'storage_quota_bytes', this.config.KILN_STORAGE_QUOTA_PER_KEY);
  }

  /** `expires_at: 0` (never expires) is refused unless KILN_ALLOW_NEVER_EXPIRING_UPLOADS. */
  assertExpiry(expiresAt: number | undefined, field = 'expires_at'): void {
    if (expiresAt === 0 && !this.config.KILN_ALLOW_NEVER_EXPIRING_UPLOADS) {
      throw new KilnError(
        'invalid_input',
        `Invalid body: ${field}: 0 (never expires) is not allowed on this server; give a time in the future (epoch seconds) or leave it out for the default.`,
        [{ field, message: 'uploads that never expire are not allowed (KILN_ALLOW_NEVER_EXPIRING_UPLOADS)' }],
      );
    }
  }

  /**
   * Call inside the transaction that creates an Upload row of `size` declared bytes (0 when not
   * known yet): 429 past KILN_MAX_OPEN_UPLOADS_PER_KEY, 413 past KILN_STORAGE_QUOTA_PER_KEY.
   */
  async admitUpload(tx: Prisma.TransactionClient, ownerKeyHash: string, size: number, field: SizeField): Promise<void> {
    const [limit, quota] = await Promise.all([
      this.limitOf(ownerKeyHash, 'max_open_uploads', this.config.KILN_MAX_OPEN_UPLOADS_PER_KEY),
      this.quotaOf(ownerKeyHash),
    ]);
    if (!limit && !quota) return;
    await lockKey(tx, 'uploads', ownerKeyHash);
    if (limit) {
      const open = await tx.upload.count({ where: { ownerKeyHash, ...openUpload(new Date()) } });
      if (open >= limit) {
        throw new KilnError(
          'rate_limited',
          `This API key already has ${open} open uploads (limit ${limit}); complete, abort or let one expire, then try again.`,
          [{ message: `at most ${limit} open uploads per API key`, limit, open }],
          { 'Retry-After': String(OPEN_UPLOADS_RETRY_AFTER_S) },
        );
      }
    }
    if (quota) await this.assertStorage(tx, ownerKeyHash, size, field, quota);
  }

  /** Another upload for this key's storage, outside admission (a declared length arriving later). */
  async assertStorageRoom(ownerKeyHash: string, size: number, field: SizeField, db: Db = this.prisma): Promise<void> {
    const quota = await this.quotaOf(ownerKeyHash);
    if (quota) await this.assertStorage(db, ownerKeyHash, size, field, quota);
  }

  /**
   * For a whole file of `size` declared bytes (0 when unknown): 413 when it does not fit; else the
   * bytes it may still stream (`room`, Infinity without a quota), what the key `used` before it and
   * its `quota`. `quotaError(used, …, quota)` names the quota once a stream is cut at that room.
   */
  async storageRoom(
    ownerKeyHash: string,
    size: number,
    field: SizeField,
  ): Promise<{ room: number; used: number; quota: number }> {
    const quota = await this.quotaOf(ownerKeyHash);
    if (!quota) return { room: Infinity, used: 0, quota: 0 };
    const used = await this.assertStorage(this.prisma, ownerKeyHash, size, field, quota);
    return { room: quota - used, used, quota };
  }

  quotaError(used: number, size: number, field: SizeField, quota: number): KilnError {
    const left = Math.max(0, quota - used);
    return new KilnError(
      'payload_too_large',
      `The upload needs ${size > 0 ? `${size} bytes` : 'more bytes'} but this API key stores ${used} bytes of its ${quota}-byte storage quota (${left} left); delete jobs to free space.`,
      [{ field, message: `storage quota of ${quota} bytes per API key`, quota, used, requested: size }],
    );
  }

  /** Call inside the transaction that creates a job: 429 past the key's `max_jobs_in_flight` or KILN_MAX_JOBS_IN_FLIGHT_PER_KEY. */
  async admitJob(tx: Prisma.TransactionClient, ownerKeyHash: string): Promise<void> {
    const limit = await this.limitOf(ownerKeyHash, 'max_jobs_in_flight', this.config.KILN_MAX_JOBS_IN_FLIGHT_PER_KEY);
    if (!limit) return;
    await lockKey(tx, 'jobs', ownerKeyHash);
    const inFlight = await tx.job.count({ where: { ownerKeyHash, status: { notIn: [...FINAL_JOB_STATUSES] } } });
    if (inFlight >= limit) {
      throw new KilnError(
        'rate_limited',
        `This API key already has ${inFlight} jobs in flight (limit ${limit}); wait for one to end or cancel one, then try again.`,
        [{ message: `at most ${limit} jobs in flight per API key`, limit, in_flight: inFlight }],
        { 'Retry-After': String(JOBS_IN_FLIGHT_RETRY_AFTER_S) },
      );
    }
  }

  /**
   * A job's conversion units are inputs × conversions, each counted as at least one (a job of 150
   * inputs needs at least 150 units). 400 `invalid_input` past KILN_MAX_UNITS_PER_JOB, naming the
   * field that grew it.
   */
  assertUnits(inputs: number, conversions: number, field: 'input' | 'conversion'): void {
    const limit = this.config.KILN_MAX_UNITS_PER_JOB;
    if (!limit) return;
    const units = Math.max(1, inputs) * Math.max(1, conversions);
    if (units > limit) {
      throw new KilnError(
        'invalid_input',
        `Invalid body: ${field}: the job would have ${inputs} input(s) × ${conversions} conversion(s) = ${units} conversion units; the limit is ${limit} per job (KILN_MAX_UNITS_PER_JOB).`,
        [{ field, message: `at most ${limit} conversion units (inputs × conversions) per job`, limit, units }],
      );
    }
  }

  /** The job's current inputs and conversions, grown by `add`, checked against KILN_MAX_UNITS_PER_JOB. */
  async assertJobUnits(db: Db, jobId: string, add: { inputs?: number; conversions?: number }): Promise<void> {
    if (!this.config.KILN_MAX_UNITS_PER_JOB) return;
    const [inputs, conversions] = await Promise.all([
      db.input.count({ where: { jobId } }),
      db.conversion.count({ where: { jobId } }),
    ]);
    this.assertUnits(
      inputs + (add.inputs ?? 0),
      conversions + (add.conversions ?? 0),
      add.conversions ? 'conversion' : 'input',
    );
  }

  /**
   * Bytes this key holds: stored inputs and outputs of its jobs (object not deleted), plus the
   * declared size of its uploads whose bytes are not yet a job's stored input: open ones (not
   * expired), and complete ones that are standalone files or still being assembled.
   */
  async storedBytes(ownerKeyHash: string, db: Db = this.prisma): Promise<number> {
    const rows = await db.$queryRaw<{ used: bigint | string | null }[]>`
      SELECT
        (SELECT COALESCE(SUM(i.size), 0) FROM inputs i JOIN jobs j ON j.id = i.job_id
          WHERE j.owner_key_hash = ${ownerKeyHash} AND i.object_key IS NOT NULL AND i.size IS NOT NULL)
      + (SELECT COALESCE(SUM(o.size), 0) FROM outputs o JOIN jobs j ON j.id = o.job_id
          WHERE j.owner_key_hash = ${ownerKeyHash} AND o.object_key IS NOT NULL AND o.size IS NOT NULL)
      + (SELECT COALESCE(SUM(u.size), 0) FROM uploads u
          LEFT JOIN inputs i ON i.id = u.input_id
          LEFT JOIN jobs j ON j.id = u.job_id
          WHERE u.owner_key_hash = ${ownerKeyHash}
            AND ((u.status = 'uploading' AND (u.expires_at IS NULL OR u.expires_at > now()))
              OR (u.status = 'complete' AND i.object_key IS NULL AND (j.id IS NULL OR j.status <> 'canceled'))))
      AS used`;
    return Math.max(0, Number(rows[0]?.used ?? 0));
  }

  private async assertStorage(
    db: Db,
    ownerKeyHash: string,
    size: number,
    field: SizeField,
    quota: number,
  ): Promise<number> {
    const used = await this.storedBytes(ownerKeyHash, db);
    if (used + size > quota || (size === 0 && used >= quota)) throw this.quotaError(used, size, field, quota);
    return used;
  }
}

/** Uploads that still take bytes: `uploading` and not past `expires_at` (never-expiring ones always count). */
function openUpload(now: Date): Prisma.UploadWhereInput {
  return { status: 'uploading', OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] };
}

/** Serialises admissions of one key across replicas until the transaction ends. */
async function lockKey(tx: Prisma.TransactionClient, kind: string, ownerKeyHash: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`key-${kind}:${ownerKeyHash}`}, 0))`;
}
