import { Inject, Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KilnError } from '@kiln/contracts';
import { PRISMA, type PrismaClient } from '@kiln/database';
import { WEB_CSRF_HEADER, WebSessions } from './web-sessions.service';
import { AuthFailures, clientAddress } from './auth-failures.service';
import { hashKey, type Principal } from './principal';

export const PUBLIC_ROUTE = 'kiln:public';
export const JOB_TOKEN_ALLOWED = 'kiln:job-token';
/** No credentials needed (health, formats, docs). */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);
/**
 * The route also accepts `X-Job-Token`: for the job in its `:id` parameter ('job'), or for
 * resources the service checks belong to the token's job ('resource', e.g. upload sessions).
 */
export const AllowJobToken = (scope: 'job' | 'resource' = 'job') => SetMetadata(JOB_TOKEN_ALLOWED, scope);
export const WEB_SESSION_ALLOWED = 'kiln:web-session';
/**
 * The route also accepts the web page's session cookie (only the page's own routes under /web).
 * Cookie-authenticated requests other than GET/HEAD must send `X-Kiln-Web: 1` (CSRF).
 */
export const AllowWebSession = () => SetMetadata(WEB_SESSION_ALLOWED, true);

export type AuthedRequest = Request & { principal: Principal };

@Injectable()
export class AuthGuard implements CanActivate {
  private readonly keyHashes: Set<string>;

  constructor(
    private readonly reflector: Reflector,
    @Inject(KILN_CONFIG) config: KilnConfig,
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    private readonly webSessions: WebSessions,
    private readonly failures: AuthFailures,
  ) {
    this.keyHashes = new Set(config.KILN_API_KEYS.map(hashKey));
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;
    const req = context.switchToHttp().getRequest<AuthedRequest>();

    const address = clientAddress(req);
    const refuse = (error: KilnError) => this.failures.failed(address, error);
    const key = this.apiKeyOf(req);
    if (key !== undefined) {
      const h = hashKey(key);
      if (!this.keyHashes.has(h)) throw await refuse(new KilnError('unauthorized', 'The API key is not valid.'));
      await this.failures.assertAllowed(address);
      req.principal = { kind: 'key', ownerKeyHash: h };
      return true;
    }
    const token = req.header('x-job-token');
    if (token !== undefined) {
      const scope = this.reflector.getAllAndOverride<'job' | 'resource' | undefined>(JOB_TOKEN_ALLOWED, targets);
      if (!scope) {
        throw new KilnError('forbidden', 'A job token only authorizes the upload endpoints of its job.');
      }
      if (!/^[0-9a-f]{32}$/.test(token))
        throw await refuse(new KilnError('unauthorized', 'The job token is not valid.'));
      await this.failures.assertAllowed(address);
      const job = await this.prisma.job.findUnique({ where: { token }, select: { id: true, ownerKeyHash: true } });
      if (!job) throw await refuse(new KilnError('unauthorized', 'The job token is not valid.'));
      const wanted = scope === 'job' ? req.params.id : undefined;
      if (wanted && wanted !== job.id) throw new KilnError('forbidden', 'This job token belongs to another job.');
      req.principal = { kind: 'job-token', jobId: job.id, ownerKeyHash: job.ownerKeyHash };
      return true;
    }
    const session = this.webSessions.tokenOf(req);
    if (session !== undefined && this.reflector.getAllAndOverride<boolean>(WEB_SESSION_ALLOWED, targets)) {
      req.principal = await this.webSessions.principal(session, req);
      if (req.method !== 'GET' && req.method !== 'HEAD' && req.header(WEB_CSRF_HEADER) !== '1') {
        throw new KilnError(
          'forbidden',
          'Requests authenticated by the web session cookie that change something must send X-Kiln-Web: 1.',
        );
      }
      return true;
    }
    throw new KilnError(
      'unauthorized',
      'Send an API key (X-Api-Key or Authorization: Bearer) or a job token (X-Job-Token).',
    );
  }

  private apiKeyOf(req: Request): string | undefined {
    const header = req.header('x-api-key');
    if (header !== undefined) return header.trim();
    const auth = req.header('authorization');
    if (auth === undefined) return undefined;
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (!m) throw new KilnError('unauthorized', 'The Authorization header must be "Bearer <api key>".');
    return m[1].trim();
  }
}
