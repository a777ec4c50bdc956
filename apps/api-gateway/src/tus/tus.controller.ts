import {
  Controller,
  Delete,
  Head,
  Options,
  Param,
  Patch,
  Post,
  Req,
  Res,
  UseFilters,
  UseInterceptors,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { KilnError } from '@kiln/contracts';
import { AllowJobToken, Public, KeyScope } from '../auth/auth.guard';
import { Caller } from '../auth/principal.decorator';
import type { Principal } from '../auth/principal';
import { keepBeforeSending, replayedAnswer } from '../http/idempotency';
import { requestOrigin } from '../http/request-origin';
import { TusErrorFilter, TusHeadersInterceptor } from './tus-http';
import { tusRequest } from './tus-request';
import { TusService, type TusAnswer } from './tus.service';

/**
 * The tus 1.0.0 endpoint (https://tus.io/protocols/resumable-upload) with the creation,
 * creation-with-upload, creation-defer-length, expiration, checksum, termination and concatenation extensions.
 * A tus upload is an upload session (GET /v1/uploads/{id} shows it). API key or X-Job-Token.
 */
@Controller('v1/tus')
@KeyScope('uploads:write')
@AllowJobToken('resource')
@UseFilters(TusErrorFilter)
@UseInterceptors(TusHeadersInterceptor)
export class TusController {
  constructor(private readonly tus: TusService) {}

  /** What the server supports; no credentials (also answers CORS preflights). */
  @Options()
  @Public()
  options(@Res() res: Response) {
    send(res, { status: 204, headers: this.tus.options() });
  }

  @Options(':id')
  @Public()
  optionsOfUpload(@Res() res: Response) {
    send(res, { status: 204, headers: this.tus.options() });
  }

  /** Creation: Upload-Length (or Upload-Defer-Length: 1) and Upload-Metadata → 201 with Location. */
  @Post()
  async create(@Caller() caller: Principal, @Req() req: Request, @Res() res: Response) {
    // A retry with the Idempotency-Key of a creation already answered: that answer again.
    const replayed = replayedAnswer(req);
    if (replayed) return send(res, replayed);
    const answer = await this.tus.create(caller, tusRequest(req), req, requestOrigin(req));
    if (answer.status < 300) await keepBeforeSending(req, answer);
    send(res, answer);
  }

  @Head(':id')
  async head(@Caller() caller: Principal, @Param('id') id: string, @Req() req: Request, @Res() res: Response) {
    send(res, await this.tus.head(caller, id, requestOrigin(req)));
  }

  @Patch(':id')
  async patch(@Caller() caller: Principal, @Param('id') id: string, @Req() req: Request, @Res() res: Response) {
    send(res, await this.tus.patch(caller, id, tusRequest(req), req));
  }

  @Delete(':id')
  async terminate(@Caller() caller: Principal, @Param('id') id: string, @Res() res: Response) {
    await this.tus.terminate(caller, id);
    send(res, { status: 204, headers: {} });
  }

  /** For clients that cannot send PATCH or DELETE: POST with X-HTTP-Method-Override. */
  @Post(':id')
  async overridden(@Caller() caller: Principal, @Param('id') id: string, @Req() req: Request, @Res() res: Response) {
    const method = req.header('x-http-method-override')?.trim().toUpperCase();
    if (method === 'PATCH') return send(res, await this.tus.patch(caller, id, tusRequest(req), req));
    if (method === 'DELETE') {
      await this.tus.terminate(caller, id);
      return send(res, { status: 204, headers: {} });
    }
    throw new KilnError('invalid_input', 'POST to an upload needs X-HTTP-Method-Override: PATCH or DELETE.', [
      { field: 'X-HTTP-Method-Override', message: 'PATCH or DELETE' },
    ]);
  }
}

function send(res: Response, answer: TusAnswer): void {
  res.status(answer.status).set(answer.headers).end();
}
