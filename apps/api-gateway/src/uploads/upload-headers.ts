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
    uploadId: uploadIdHeader(req),
    fileName: req.header('x-file-name'),
    fileType: req.header('x-file-type') ?? req.header('content-type'),
    inputId: req.header('x-input-id'),
  };
}

/** The client's id of a chunked file: X-Upload-Id, or online-convert's X-Oc-Upload-Uuid (X-Upload-Id wins). */
export function uploadIdHeader(req: Request): string | undefined {
  return req.header('x-upload-id') ?? req.header('x-oc-upload-uuid');
}

/** A request that carries one chunk of a file (an upload id or a Content-Range), not a whole file. */
export function isChunkRequest(req: Request): boolean {
  return uploadIdHeader(req) !== undefined || req.header('content-range') !== undefined;
}
