import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { KeyScope } from '../auth/auth.guard';
import { Caller } from '../auth/principal.decorator';
import type { Principal } from '../auth/principal';
import { PresetsService } from './presets.service';

/** Named conversions of the calling API key; `{"preset": "<id or name>"}` in a job's conversion uses one. */
@Controller('v1/presets')
@KeyScope({ read: 'jobs:read', write: 'jobs:write' })
export class PresetsController {
  constructor(private readonly presets: PresetsService) {}

  @Post()
  @HttpCode(201)
  create(@Caller() caller: Principal, @Body() body: unknown) {
    return this.presets.create(caller, body);
  }

  @Get()
  list(@Caller() caller: Principal) {
    return this.presets.list(caller);
  }

  @Get(':id')
  get(@Caller() caller: Principal, @Param('id') id: string) {
    return this.presets.get(caller, id);
  }

  @Delete(':id')
  @HttpCode(204)
  remove(@Caller() caller: Principal, @Param('id') id: string) {
    return this.presets.remove(caller, id);
  }
}
