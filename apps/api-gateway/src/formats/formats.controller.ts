import { Controller, Get } from '@nestjs/common';
import { CATALOG } from '@kiln/contracts';
import { Public } from '../auth/auth.guard';

@Controller('v1/formats')
export class FormatsController {
  /** The conversion catalog: targets, their category, accepted input kinds and options. */
  @Get()
  @Public()
  list() {
    return CATALOG;
  }
}
