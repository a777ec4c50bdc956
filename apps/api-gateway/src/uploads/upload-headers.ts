import type { Request } from 'express';
import type { ChunkHeaders } from '@kiln/uploads';

/** What a chunk request says about its bytes, read from its headers as sent. */
export interface ChunkRequest extends ChunkHeaders {
  contentRange?: string;
}

/** What the first chunk of a job upload (X-Upload-Id) says about its file. */
export interface JobChunkRequest extends ChunkRequest {
  uploadId?: string;
  fileName?: string;
  /** X-File-Type, else Content-Type. */
  fileType?: string;
  inputId?: string;
}

export function chunkRequest(req: Request): ChunkRequest {
  return {
    contentRange: req.header('content-range'),
    contentLength: req.header('content-length'),
    contentDigest: req.header('content-digest'),
    chunkSha256: req.header('x-chunk-sha256'),
  };
}

export function jobChunkRequest(req: Request): JobChunkRequest {
  return {
    ...chunkRequest(req),
    uploadId: req.header('x-upload-id'),
    fileName: req.header('x-file-name'),
    fileType: req.header('x-file-type') ?? req.header('content-type'),
    inputId: req.header('x-input-id'),
  };
}
