import { Controller, Param, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AllowJobToken, KeyScope } from '../auth/auth.guard';
import { Caller } from '../auth/principal.decorator';
import type { Principal } from '../auth/principal';
import { KeyLimits } from '../limits/key-limits.service';
import { JobChunkUploadService } from './job-chunk-upload.service';
import { isChunkRequest, jobChunkRequest } from './upload-headers';
import { WholeFileUploadService } from './whole-file-upload.service';

@Controller('v1/jobs')
@KeyScope('uploads:write')
export class JobUploadController {
  constructor(
    private readonly wholeFile: WholeFileUploadService,
    private readonly chunked: JobChunkUploadService,
    private readonly limits: KeyLimits,
  ) {}

  /**
   * A whole file (multipart `file` field, or raw body with X-File-Name) → 201; or one chunk of a
   * file (X-Upload-Id + Content-Range) → 202 until every byte is present, then 201.
   */
  @Post(':id/upload')
  @AllowJobToken()
  async upload(
    @Caller() caller: Principal,
    @Param('id') id: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ) {
    return this.limits.withUploadSlot(caller, async () => {
      if (isChunkRequest(req)) {
        const answer = await this.chunked.upload(caller, id, jobChunkRequest(req), req);
        res.status(answer.status);
        return answer.body;
      }
      res.status(201);
      return this.wholeFile.upload(caller, id, req.headers, req);
    });
  }
}
