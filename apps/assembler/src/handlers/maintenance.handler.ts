import { Inject, Injectable } from '@nestjs/common';
import type { HandlerOutcome, PayloadOf } from '@kiln/contracts';
import type { PrismaClient } from '@kiln/database';
import type { Logger } from '@kiln/observability';
import type { JobHandler } from '@kiln/queue';
import type { ObjectStore } from '@kiln/storage';
import { LOGGER, OBJECT_STORE, PRISMA } from '@kiln/worker-runtime';

/** Multipart uploads older than this were abandoned (a crashed writer); S3 keeps their parts forever. */
export const STALE_MULTIPART_AGE_MS = 24 * 3600 * 1000;

/** Housekeeping on a schedule: expired upload sessions and their chunks, abandoned multipart uploads. */
@Injectable()
export class MaintenanceHandler implements JobHandler<'maintenance'> {
  readonly queue = 'maintenance' as const;

  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  async handle(payload: PayloadOf<'maintenance'>): Promise<HandlerOutcome> {
    switch (payload.task) {
      case 'expire-uploads':
        return this.expireUploads();
      case 'stale-multipart': {
        const aborted = await this.store.abortStaleUploads(new Date(Date.now() - STALE_MULTIPART_AGE_MS));
        return { status: 'success', detail: `${aborted} stale multipart uploads aborted` };
      }
      default:
        return { status: 'skipped', reason: `task ${payload.task} is not run by this version` };
    }
  }

  /** Upload sessions past `expires_at` that never completed: chunks deleted from storage, then the rows. */
  async expireUploads(now = new Date()): Promise<HandlerOutcome> {
    const expired = await this.prisma.upload.findMany({
      where: { status: { in: ['uploading', 'failed'] }, expiresAt: { lt: now } },
      select: { id: true, inputId: true },
      take: 500,
    });
    for (const u of expired) {
      await this.store.removePrefix(`chunks/${u.id}/`);
      await this.prisma.$transaction([
        this.prisma.upload.delete({ where: { id: u.id } }),
        ...(u.inputId
          ? [this.prisma.input.updateMany({ where: { id: u.inputId, status: { in: ['pending', 'uploading'] } }, data: { status: 'failed', error: 'the upload session expired' } })]
          : []),
      ]);
    }
    if (expired.length) this.log.info({ count: expired.length }, 'expired upload sessions removed');
    return { status: 'success', detail: `${expired.length} expired upload sessions removed` };
  }
}
