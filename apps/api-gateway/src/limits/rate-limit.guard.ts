import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { AuthedRequest } from '../auth/auth.guard';
import { KeyLimits } from './key-limits.service';

/** Runs after AuthGuard: authenticated requests count against their key's rate. Public routes do not. */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(private readonly limits: KeyLimits) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<AuthedRequest>();
    if (req.principal) await this.limits.checkRate(req.principal);
    return true;
  }
}
