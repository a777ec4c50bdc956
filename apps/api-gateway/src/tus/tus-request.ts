import type { Request } from 'express';

/** The tus headers of a creation (POST) or a PATCH, as sent; tus.service parses them (tus-protocol.ts). */
export interface TusRequest {
  uploadLength?: string;
  deferLength?: string;
  metadata?: string;
  uploadOffset?: string;
  checksum?: string;
  contentType?: string;
  contentLength?: string;
  /** Upload-Concat (concatenation extension): `partial` or `final;<url> <url> …`. */
  concat?: string;
}

export function tusRequest(req: Request): TusRequest {
  return {
    uploadLength: req.header('upload-length'),
    deferLength: req.header('upload-defer-length'),
    metadata: req.header('upload-metadata'),
    uploadOffset: req.header('upload-offset'),
    checksum: req.header('upload-checksum'),
    contentType: req.header('content-type'),
    contentLength: req.header('content-length'),
    concat: req.header('upload-concat'),
  };
}
