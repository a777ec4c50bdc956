import type { PrismaClient, Upload } from '@kiln/database';

/**
 * Records an upload as assembled into `target`: the upload's object key and completion time, and
 * its input (when it has one) ready with the upload's name, size, type and checksum. Under the
 * upload's lock, reading its job and input again: a standalone upload may have been attached to a
 * job while it was being assembled (see the gateway's attachUpload). Returns the job and input it has now.
 */
export async function recordAssembled(
  prisma: PrismaClient,
  upload: Pick<Upload, 'id' | 'filename' | 'size' | 'contentType' | 'checksumSha256'>,
  target: string,
  sha256: string | null | undefined,
): Promise<{ jobId: string | null; inputId: string | null }> {
  const now = new Date();
  return prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`upload:${upload.id}`}, 0))`;
    const done = await tx.upload.update({
      where: { id: upload.id },
      data: { objectKey: target, completedAt: now },
      select: { jobId: true, inputId: true },
    });
    if (done.inputId) {
      await tx.input.update({
        where: { id: done.inputId },
        data: {
          status: 'ready',
          filename: upload.filename,
          size: upload.size,
          contentType: upload.contentType,
          checksumSha256: sha256 ?? upload.checksumSha256,
          objectKey: target,
          readyAt: now,
          error: null,
        },
      });
    }
    return done;
  });
}
