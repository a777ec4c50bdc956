import type { Input, Upload } from '@kiln/database';
import type { UploadView } from '@kiln/contracts';
import { inputView } from '@kiln/workflow';
import type { ChunkResult } from '@kiln/uploads';

export type { UploadView };

export function uploadView(
  state: ChunkResult,
  base: string,
  limits: { chunkSizeMin: number; chunkSizeMax: number },
  input?: Input | null,
): UploadView {
  const u: Upload = state.upload;
  return {
    id: u.id,
    location: `${base}/v1/uploads/${u.id}`,
    filename: u.filename,
    size: Number(u.size),
    job_id: u.jobId,
    input_id: u.inputId,
    content_type: u.contentType,
    checksum_sha256: u.checksumSha256,
    chunk_size_min: limits.chunkSizeMin,
    chunk_size_max: limits.chunkSizeMax,
    received: state.received,
    received_bytes: state.receivedBytes,
    offset: state.offset,
    status: u.status,
    assembled: !!u.completedAt,
    ...(u.error ? { error: u.error } : {}),
    expires_at: u.expiresAt ? Math.floor(u.expiresAt.getTime() / 1000) : 0,
    created_at: u.createdAt.toISOString(),
    ...(input ? { input: inputView(input) } : {}),
    mode: u.directTransfer ? 'direct' : 'proxied',
  };
}
