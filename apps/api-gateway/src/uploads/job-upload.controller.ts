import { Controller, HttpCode, Param, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import { AllowJobToken } from '../auth/auth.guard';
import { Caller } from '../auth/principal.decorator';
import type { Principal } from '../auth/principal';
import { WholeFileUploadService } from './whole-file-upload.service';

@Controller('v1/jobs')
export class JobUploadController {
  constructor(private readonly wholeFile: WholeFileUploadService) {}

  /** Whole file (multipart `file` field, or raw body with X-File-Name) into the job. */
  @Post(':id/upload')
  @AllowJobToken()
  @HttpCode(201)
  upload(@Caller() caller: Principal, @Param('id') id: string, @Req() req: Request) {
    return this.wholeFile.upload(caller, id, req);
  }
}
