import { KilnError } from '@kiln/contracts';
import type { Input, Prisma } from '@kiln/database';
import type { UploadCaller } from './upload-caller';

/**
 * Makes a standalone upload session (opened without job_id, by POST /v1/uploads or tus) the file
 * of a job's upload input. Runs inside the caller's transaction, under the same per-upload lock as
 * the chunk writes and the assembler's last step, so whichever comes second sees the other:
 * - already assembled → the input is ready at once (the assembled object becomes its file);
 * - every byte in, assembly running → the input waits in `assembling`; the assembler marks it ready;
 * - still uploading → the input is `uploading`; the chunk that completes the file moves it on.
 * An upload already attached to a job, failed or expired is refused; another key's is not found.
 */
export async function attachUpload(
  tx: Prisma.TransactionClient,
  principal: UploadCaller,
  input: Pick<Input, 'id' | 'jobId'>,
  uploadId: string,
): Promise<Input> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`upload:${uploadId}`}, 0))`;
  const upload = await tx.upload.findUnique({ where: { id: uploadId } });
  if (!upload || upload.ownerKeyHash !== principal.ownerKeyHash) {
    throw new KilnError('not_found', 'No such upload.', [{ field: 'upload_id', message: 'unknown upload' }]);
  }
  if (upload.jobId) {
    throw new KilnError(
      'conflict',
      upload.jobId === input.jobId
        ? 'The upload is already an input of this job.'
        : 'The upload is already the input of another job.',
      [{ field: 'upload_id', message: 'already attached to a job' }],
    );
  }
  if (upload.tusConcat === 'partial')
    throw new KilnError(
      'invalid_input',
      'The upload is a tus partial upload: only the final upload made of it (Upload-Concat: final) can be an input.',
      [{ field: 'upload_id', message: 'partial upload' }],
    );
  if (upload.status === 'failed')
    throw new KilnError('conflict', `The upload failed: ${upload.error ?? 'see its status'}.`, [
      { field: 'upload_id', message: 'upload failed' },
    ]);
  if (upload.expiresAt && upload.expiresAt < new Date())
    throw new KilnError('not_found', 'The upload has expired.', [{ field: 'upload_id', message: 'expired' }]);
  await tx.upload.update({ where: { id: upload.id }, data: { jobId: input.jobId, inputId: input.id } });
  const assembled = upload.completedAt && upload.objectKey;
  return tx.input.update({
    where: { id: input.id },
    data: {
      filename: upload.filename,
      size: upload.size,
      contentType: upload.contentType,
      status: assembled ? 'ready' : upload.status === 'complete' ? 'assembling' : 'uploading',
      ...(assembled ? { objectKey: upload.objectKey, readyAt: new Date(), checksumSha256: upload.checksumSha256 } : {}),
    },
  });
}
