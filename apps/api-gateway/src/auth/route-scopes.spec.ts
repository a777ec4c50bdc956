// Every route of the gateway is either public or declares the API key scope it needs (fail closed),
// read from the controllers the app module mounts; and the guard refuses a key without that scope,
// or any key on a route that declares none.
import { Controller, Get, Post, RequestMethod, type ExecutionContext, type Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import { testConfig } from '@kiln/config/testing';
import { KilnError } from '@kiln/contracts';
import { hashApiKey, type PrismaClient } from '@kiln/database';
import { createLogger } from '@kiln/observability';
import { AppModule } from '../app.module';
import type { ApiKeys } from './api-keys.service';
import { AuthGuard, KEY_SCOPE, KeyScope, PUBLIC_ROUTE, neededScope, type RouteScope } from './auth.guard';
import type { AuthFailures } from './auth-failures.service';
import type { WebSessions } from './web-sessions.service';

const bootstrapKey = 'kiln_test_key_0123456789';
const config = testConfig({ KILN_API_KEYS: bootstrapKey });

interface Route {
  route: string;
  scope: RouteScope | undefined;
  isPublic: boolean;
}

function routesOf(controllers: Type[]): Route[] {
  return controllers.flatMap((controller) => {
    const prefix = [Reflect.getMetadata(PATH_METADATA, controller) as string | string[]].flat()[0];
    const proto = controller.prototype as Record<string, unknown>;
    return Object.getOwnPropertyNames(proto).flatMap((handler) => {
      const fn = proto[handler];
      if (handler === 'constructor' || typeof fn !== 'function') return [];
      const method = Reflect.getMetadata(METHOD_METADATA, fn) as RequestMethod | undefined;
      if (method === undefined) return [];
      const meta = <T>(key: string) =>
        (Reflect.getMetadata(key, fn) as T | undefined) ?? (Reflect.getMetadata(key, controller) as T | undefined);
      const path = [Reflect.getMetadata(PATH_METADATA, fn) as string | string[]].flat()[0];
      return [
        {
          route: `${RequestMethod[method]} /${[prefix, path].filter((s) => s && s !== '/').join('/')}`,
          scope: meta<RouteScope>(KEY_SCOPE),
          isPublic: meta<boolean>(PUBLIC_ROUTE) === true,
        },
      ];
    });
  });
}

const gatewayControllers = () =>
  (AppModule.forRoot(config, createLogger('scopes-spec', 'silent')).controllers ?? []) as Type[];

describe('API key scopes of the routes', () => {
  const routes = routesOf(gatewayControllers());
  const scopeOf = (route: string) => {
    const r = routes.find((x) => x.route === route);
    if (!r) throw new Error(`no route ${route}`);
    return neededScope(r.scope, route.split(' ')[0]);
  };

  it('finds every controller of the app module', () => {
    expect(routes.length).toBeGreaterThan(40);
  });

  it('declares a scope on every route that is not public (fail closed)', () => {
    expect(routes.filter((r) => !r.isPublic && !r.scope).map((r) => r.route)).toEqual([]);
  });

  it('needs the read scope for GET/HEAD and the write scope otherwise; uploads:write on every upload route; admin on keys', () => {
    expect(scopeOf('GET /v1/jobs')).toBe('jobs:read');
    expect(scopeOf('GET /v1/jobs/:id/events')).toBe('jobs:read');
    expect(scopeOf('POST /v1/jobs')).toBe('jobs:write');
    expect(scopeOf('DELETE /v1/jobs/:id')).toBe('jobs:write');
    expect(scopeOf('POST /v1/jobs/:id/upload')).toBe('uploads:write');
    for (const r of routes.filter((x) => /^\S+ \/v1\/(uploads|tus)/.test(x.route) && !x.isPublic)) {
      expect({ route: r.route, scope: neededScope(r.scope, r.route.split(' ')[0]) }).toEqual({
        route: r.route,
        scope: 'uploads:write',
      });
    }
    for (const route of ['POST /v1/keys', 'GET /v1/keys', 'DELETE /v1/keys/:id']) expect(scopeOf(route)).toBe('admin');
  });
});

@Controller('scoped')
@KeyScope({ read: 'jobs:read', write: 'jobs:write' })
class ScopedController {
  @Get()
  read() {}
  @Post()
  write() {}
}

@Controller('unscoped')
class UnscopedController {
  @Get()
  read() {}
}

describe('AuthGuard and scopes', () => {
  const managedKey = 'kiln_managed_reader_0123456789';
  const adminKey = 'kiln_managed_admin_0123456789';
  const keys = {
    lookup: async (hash: string) =>
      hash === hashApiKey(managedKey)
        ? { id: 'k1', scopes: ['jobs:read'] as const }
        : hash === hashApiKey(adminKey)
          ? { id: 'k2', scopes: ['admin'] as const }
          : undefined,
  } as unknown as ApiKeys;
  const failures = {
    assertAllowed: async () => undefined,
    failed: async (_: string, e: KilnError) => e,
  } as unknown as AuthFailures;
  const guard = new AuthGuard(new Reflector(), config, {} as PrismaClient, {} as WebSessions, failures, keys);

  function context(controller: Type, handler: string, method: string, headers: Record<string, string>) {
    const req = {
      method,
      path: `/${handler}`,
      ip: '127.0.0.1',
      socket: {},
      params: {},
      headers,
      header: (name: string) => headers[name.toLowerCase()],
    } as unknown as { principal?: unknown };
    const ctx = {
      getHandler: () => (controller.prototype as Record<string, unknown>)[handler],
      getClass: () => controller,
      switchToHttp: () => ({ getRequest: () => req }),
    } as unknown as ExecutionContext;
    return { ctx, req };
  }

  async function refusal(p: Promise<unknown>): Promise<KilnError> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KilnError);
    return err as KilnError;
  }

  it('lets a key with the scope through, with its scopes on the principal', async () => {
    const { ctx, req } = context(ScopedController, 'read', 'GET', { 'x-oc-api-key': managedKey });
    await expect(guard.canActivate(ctx)).resolves.toBe(true);
    expect(req.principal).toEqual({
      kind: 'key',
      ownerKeyHash: hashApiKey(managedKey),
      scopes: ['jobs:read'],
      keyId: 'k1',
    });
  });

  it('refuses a key without the scope: 403 naming it', async () => {
    const { ctx } = context(ScopedController, 'write', 'POST', { 'x-api-key': managedKey });
    const err = await refusal(guard.canActivate(ctx));
    expect(err.status).toBe(403);
    expect(err.code).toBe('forbidden');
    expect(err.message).toBe('This API key lacks the scope "jobs:write" needed for POST /write (it has: jobs:read).');
    expect(err.details).toEqual([{ field: 'scope', message: 'missing scope jobs:write', scope: 'jobs:write' }]);
  });

  it('gives bootstrap keys every scope but admin', async () => {
    const ok = context(ScopedController, 'write', 'POST', { authorization: `Bearer ${bootstrapKey}` });
    await expect(guard.canActivate(ok.ctx)).resolves.toBe(true);
    expect(ok.req.principal).toEqual({
      kind: 'key',
      ownerKeyHash: hashApiKey(bootstrapKey),
      scopes: ['jobs:read', 'jobs:write', 'uploads:write'],
    });
  });

  it('refuses every key, admin and bootstrap ones too, on a route that declares no scope', async () => {
    for (const key of [bootstrapKey, adminKey, managedKey]) {
      const err = await refusal(
        guard.canActivate(context(UnscopedController, 'read', 'GET', { 'x-api-key': key }).ctx),
      );
      expect(err.status).toBe(403);
      expect(err.message).toBe('This route declares no API key scope, so no API key may call it.');
    }
  });

  it('refuses an unknown key with 401', async () => {
    const err = await refusal(
      guard.canActivate(context(ScopedController, 'read', 'GET', { 'x-api-key': 'kiln_unknown_0123456789' }).ctx),
    );
    expect(err.status).toBe(401);
  });
});
