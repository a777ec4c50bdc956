import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { z } from 'zod';
import { AllowWebSession, KeyScope } from '../auth/auth.guard';
import { Caller } from '../auth/principal.decorator';
import type { Principal } from '../auth/principal';
import { parseOrThrow } from '../http/validation';
import { conversionSpec } from '../jobs/jobs.schemas';
import { JobsService } from '../jobs/jobs.service';

/**
 * What the page may create: uploaded files and conversions, nothing else (no remote inputs, no
 * callback URL). The answer carries the job's token, which the page uses for the uploads and the
 * events stream of that job.
 */
export const webJobBody = z.strictObject({
  input: z
    .array(
      z.strictObject({
        type: z.literal('upload'),
        filename: z.string().min(1).max(255),
        size: z.number().int().min(1).optional(),
      }),
    )
    .min(1)
    .max(20),
  conversion: z.array(conversionSpec).min(1).max(20),
  tag: z.string().max(255).optional(),
});

/**
 * The page's narrow view of the jobs API, authorized by the web session cookie (or an API key):
 * create, list and read the owner's jobs, cancel, download. Non-GET calls need X-Kiln-Web: 1.
 */
@Controller('web/jobs')
@KeyScope({ read: 'jobs:read', write: 'jobs:write' })
@AllowWebSession()
export class WebJobsController {
  constructor(private readonly jobs: JobsService) {}

  @Post()
  @HttpCode(201)
  create(@Caller() caller: Principal, @Body() body: unknown) {
    const spec = parseOrThrow(webJobBody, body);
    return this.jobs.create(caller, { ...spec, process: true });
  }

  @Get()
  list(@Caller() caller: Principal, @Query() query: unknown) {
    return this.jobs.list(caller, query);
  }

  @Get(':id')
  get(@Caller() caller: Principal, @Param('id') id: string) {
    return this.jobs.get(caller, id);
  }

  @Delete(':id')
  cancel(@Caller() caller: Principal, @Param('id') id: string) {
    return this.jobs.cancel(caller, id);
  }

  /** 302 to a fresh, time-limited URL of the output (links on the page never go stale). */
  @Get(':id/output/:outputId/download')
  async download(
    @Caller() caller: Principal,
    @Param('id') id: string,
    @Param('outputId') outputId: string,
    @Res() res: Response,
  ) {
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, await this.jobs.downloadUrl(caller, id, outputId));
  }
}
