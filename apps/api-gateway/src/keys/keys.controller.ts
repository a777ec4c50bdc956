import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { KeyScope } from '../auth/auth.guard';
import { ApiKeys } from '../auth/api-keys.service';

/** Managed API keys (scope `admin`): the clear key is in the creation's answer only. */
@Controller('v1/keys')
@KeyScope('admin')
export class KeysController {
  constructor(private readonly keys: ApiKeys) {}

  @Post()
  @HttpCode(201)
  create(@Body() body: unknown) {
    return this.keys.create(body);
  }

  @Get()
  list() {
    return this.keys.list();
  }

  @Delete(':id')
  revoke(@Param('id') id: string) {
    return this.keys.revoke(id);
  }
}
