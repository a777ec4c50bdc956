import { timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KilnError } from '@kiln/contracts';
import { BOOTSTRAP_SCOPES, PRISMA, type ApiKeyScope, type PrismaClient } from '@kiln/database';
import { ApiKeys } from './api-keys.service';
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

export const KEY_SCOPE = 'kiln:key-scope';
/** The scope an API key needs on a controller's routes: `read` for GET/HEAD, `write` for the rest. */
export interface RouteScope {
  read: ApiKeyScope;
  write: ApiKeyScope;
}
/**
 * Class-level: the scope an API key needs (one for every method, or read/write). Fails closed: a
 * route that is neither @Public nor scoped refuses every API key (and route-scopes.spec.ts fails).
 */
export const KeyScope = (scope: ApiKeyScope | RouteScope) =>
  SetMetadata(KEY_SCOPE, typeof scope === 'string' ? { read: scope, write: scope } : scope);

/** The scope a request of this method needs on a route of this RouteScope; undefined when the route declares none. */
export function neededScope(scope: RouteScope | undefined, method: string): ApiKeyScope | undefined {
  if (!scope) return undefined;
  return method === 'GET' || method === 'HEAD' ? scope.read : scope.write;
}

export type AuthedRequest = Request & { principal: Principal };

@Injectable()
export class AuthGuard implements CanActivate {
  private readonly bootstrapHashes: Buffer[];

  constructor(
    private readonly reflector: Reflector,
    @Inject(KILN_CONFIG) config: KilnConfig,
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    private readonly webSessions: WebSessions,
    private readonly failures: AuthFailures,
    private readonly keys: ApiKeys,
  ) {
    this.bootstrapHashes = config.KILN_API_KEYS.map((k) => Buffer.from(hashKey(k), 'hex'));
  }

  /** Whether the hash is one of KILN_API_KEYS': compared with every one, in constant time. */
  private isBootstrap(keyHash: string): boolean {
    const given = Buffer.from(keyHash, 'hex');
    let found = false;
    for (const h of this.bootstrapHashes) found = timingSafeEqual(h, given) || found;
    return found;
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
      const bootstrap = this.isBootstrap(h);
      // Managed keys are looked up by hash (PostgreSQL's unique index; never compared in the clear).
      const managed = bootstrap ? undefined : await this.keys.lookup(h);
      if (!bootstrap && !managed) throw await refuse(new KilnError('unauthorized', 'The API key is not valid.'));
      await this.failures.assertAllowed(address);
      const scopes = managed?.scopes ?? BOOTSTRAP_SCOPES;
      const needed = neededScope(this.reflector.getAllAndOverride<RouteScope>(KEY_SCOPE, targets), req.method);
      if (!needed) throw new KilnError('forbidden', 'This route declares no API key scope, so no API key may call it.');
      if (!scopes.includes(needed)) {
        throw new KilnError(
          'forbidden',
          `This API key lacks the scope "${needed}" needed for ${req.method} ${req.path} (it has: ${scopes.join(', ')}).`,
          [{ field: 'scope', message: `missing scope ${needed}`, scope: needed }],
        );
      }
      req.principal = managed
        ? {
            kind: 'key',
            ownerKeyHash: h,
            scopes,
            keyId: managed.id,
            ...(managed.limits ? { limits: managed.limits } : {}),
          }
        : { kind: 'key', ownerKeyHash: h, scopes };
      return true;
    }
    // X-Oc-Token: online-convert's name for the job token. A route with `:jobToken` in its path (the Uppy
    // endpoints: @uppy/aws-s3 sends no headers) takes it from there.
    const pathToken = typeof req.params?.jobToken === 'string' ? req.params.jobToken : undefined;
    const token = req.header('x-job-token') ?? req.header('x-oc-token') ?? pathToken;
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
      // A job's token lasts as long as the key that made the job: revoking a managed key ends its tokens too.
      if (!this.isBootstrap(job.ownerKeyHash) && !(await this.keys.lookup(job.ownerKeyHash)))
        throw new KilnError(
          'unauthorized',
          'The job token is no longer valid: the API key that made the job was revoked.',
        );
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
      'Send an API key (X-Api-Key, X-Oc-Api-Key or Authorization: Bearer) or a job token (X-Job-Token or X-Oc-Token).',
    );
  }

  private apiKeyOf(req: Request): string | undefined {
    const header = req.header('x-api-key') ?? req.header('x-oc-api-key');
    if (header !== undefined) return header.trim();
    const auth = req.header('authorization');
    if (auth === undefined) return undefined;
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (!m) throw new KilnError('unauthorized', 'The Authorization header must be "Bearer <api key>".');
    return m[1].trim();
  }
}
