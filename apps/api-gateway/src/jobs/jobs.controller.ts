import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import { KeyScope } from '../auth/auth.guard';
import type { Response } from 'express';
import { Caller } from '../auth/principal.decorator';
import type { Principal } from '../auth/principal';
import { JobWaitService } from './job-wait.service';
import { JobsService } from './jobs.service';

@Controller('v1/jobs')
@KeyScope({ read: 'jobs:read', write: 'jobs:write' })
export class JobsController {
  constructor(
    private readonly jobs: JobsService,
    private readonly waits: JobWaitService,
  ) {}

  @Post()
  @HttpCode(201)
  create(
    @Caller() caller: Principal,
    @Body() body: unknown,
    @Query() query: unknown,
    @Res({ passthrough: true }) res: Response,
  ) {
    return this.waits.create(caller, body, query, res);
  }

  @Get()
  list(@Caller() caller: Principal, @Query() query: unknown) {
    return this.jobs.list(caller, query);
  }

  @Get(':id')
  get(
    @Caller() caller: Principal,
    @Param('id') id: string,
    @Query() query: unknown,
    @Res({ passthrough: true }) res: Response,
  ) {
    return this.waits.get(caller, id, query, res);
  }

  @Patch(':id')
  patch(@Caller() caller: Principal, @Param('id') id: string, @Body() body: unknown) {
    return this.jobs.patch(caller, id, body);
  }

  @Delete(':id')
  cancel(@Caller() caller: Principal, @Param('id') id: string) {
    return this.jobs.cancel(caller, id);
  }

  @Post(':id/conversions')
  @HttpCode(201)
  addConversion(@Caller() caller: Principal, @Param('id') id: string, @Body() body: unknown) {
    return this.jobs.addConversion(caller, id, body);
  }

  @Get(':id/conversions')
  listConversions(@Caller() caller: Principal, @Param('id') id: string) {
    return this.jobs.listConversions(caller, id);
  }

  @Post(':id/input')
  @HttpCode(201)
  addInput(@Caller() caller: Principal, @Param('id') id: string, @Body() body: unknown) {
    return this.jobs.addInput(caller, id, body);
  }

  @Get(':id/input')
  listInputs(@Caller() caller: Principal, @Param('id') id: string) {
    return this.jobs.listInputs(caller, id);
  }

  @Get(':id/output')
  listOutputs(@Caller() caller: Principal, @Param('id') id: string) {
    return this.jobs.listOutputs(caller, id);
  }

  @Get(':id/output/latest')
  async latestOutput(
    @Caller() caller: Principal,
    @Param('id') id: string,
    @Query() query: unknown,
    @Res() res: Response,
  ) {
    const latest = await this.waits.latestOutput(caller, id, query, res);
    if ('redirect' in latest) res.redirect(302, latest.redirect);
    else res.json(latest.output);
  }

  @Get(':id/output/:outputId/download')
  async download(
    @Caller() caller: Principal,
    @Param('id') id: string,
    @Param('outputId') outputId: string,
    @Res() res: Response,
  ) {
    res.redirect(302, await this.jobs.downloadUrl(caller, id, outputId));
  }

  @Get(':id/callbacks')
  listCallbacks(@Caller() caller: Principal, @Param('id') id: string) {
    return this.jobs.listCallbacks(caller, id);
  }
}
