import { Body, Controller, Delete, Get, Head, HttpCode, Param, Post, Put, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AllowJobToken, KeyScope } from '../auth/auth.guard';
import { Caller } from '../auth/principal.decorator';
import type { Principal } from '../auth/principal';
import { requestOrigin } from '../http/request-origin';
import { KeyLimits } from '../limits/key-limits.service';
import { parseOrThrow } from '../http/validation';
import { DirectUploadsService } from './direct-uploads.service';
import { chunkRequest } from './upload-headers';
import { signPartsBody } from './upload-sessions.schemas';
import { UploadSessionsService } from './upload-sessions.service';

/** Upload sessions (shared/design/API.md "Upload sessions"): resumable uploads of large files. */
@Controller('v1/uploads')
@KeyScope('uploads:write')
@AllowJobToken('resource')
export class UploadSessionsController {
  constructor(
    private readonly sessions: UploadSessionsService,
    private readonly limits: KeyLimits,
    private readonly direct: DirectUploadsService,
  ) {}

  /** The upload modes offered (direct: straight to S3 with presigned URLs). Declared before `:id`. */
  @Get('modes')
  modes() {
    return this.direct.modes();
  }

  @Post()
  @HttpCode(201)
  create(@Caller() caller: Principal, @Body() body: unknown, @Req() req: Request) {
    const direct = !!body && typeof body === 'object' && (body as { mode?: unknown }).mode === 'direct';
    return direct
      ? this.direct.create(caller, body, requestOrigin(req))
      : this.sessions.create(caller, body, requestOrigin(req));
  }

  /** Direct multipart sessions: presigned part URLs (each signs its Content-Length); again for fresh ones. */
  @Post(':id/parts')
  @HttpCode(200)
  signParts(@Caller() caller: Principal, @Param('id') id: string, @Body() body: unknown) {
    const { part_numbers } = parseOrThrow(signPartsBody, body);
    return this.direct.signParts(caller, id, part_numbers);
  }

  /** One chunk: raw bytes with `Content-Range: bytes start-end/total`. 202 until complete, then 201. */
  @Put(':id')
  async put(
    @Caller() caller: Principal,
    @Param('id') id: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ) {
    const answer = await this.limits.withUploadSlot(caller, () =>
      this.sessions.putChunk(caller, id, chunkRequest(req), req, requestOrigin(req)),
    );
    res.status(answer.status);
    return answer.body;
  }

  /** (Declared before GET: Express would answer HEAD with the GET route.) Progress for resume in headers only: Upload-Offset (first missing byte), X-Upload-Status, X-Received-Bytes. */
  @Head(':id')
  async head(@Caller() caller: Principal, @Param('id') id: string, @Req() req: Request, @Res() res: Response) {
    const v = await this.direct.get(caller, id, requestOrigin(req));
    res
      .status(200)
      .set({
        'Cache-Control': 'no-store',
        'Upload-Offset': String(v.offset),
        'Upload-Length': String(v.size),
        'X-Upload-Status': v.status,
        'X-Received-Bytes': String(v.received_bytes),
      })
      .end();
  }

  @Get(':id')
  async get(
    @Caller() caller: Principal,
    @Param('id') id: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ) {
    res.setHeader('Cache-Control', 'no-store');
    return this.direct.get(caller, id, requestOrigin(req));
  }

  @Post(':id/complete')
  @HttpCode(200)
  complete(@Caller() caller: Principal, @Param('id') id: string, @Req() req: Request) {
    return this.direct.complete(caller, id, requestOrigin(req));
  }

  @Delete(':id')
  @HttpCode(204)
  async abort(@Caller() caller: Principal, @Param('id') id: string) {
    await this.sessions.abort(caller, id);
  }
}
