// The operations area of the OpenAPI document: formats, health, metrics and this document.
import { json, listOf, op, type Operation, OPS, ref } from './openapi-operation';

export function operationsPaths() {
  const ops = (o: Omit<Operation, 'tag' | 'auth'>) => op({ ...o, tag: OPS, auth: 'public' });
  const metricsToken = 'A Bearer token when KILN_METRICS_TOKEN is set (401 without it)';
  return {
    '/v1/formats': {
      get: ops({
        summary: 'The conversion catalog: targets, categories, accepted inputs, options',
        ok: { '200': listOf('Target') },
      }),
    },
    '/health/live': {
      get: ops({
        summary: 'The process is up',
        ok: { '200': json({ type: 'object', properties: { status: { const: 'ok' } } }) },
      }),
    },
    '/health/ready': {
      get: ops({
        summary: 'PostgreSQL, Redis and storage reachable',
        ok: { '200': json(ref('HealthChecks'), 'Ready'), '503': json(ref('HealthChecks'), 'A dependency is down') },
      }),
    },
    '/metrics': {
      get: ops({
        summary: `Prometheus metrics (text format). ${metricsToken}`,
        ok: { '200': { description: 'Metrics', content: { 'text/plain': { schema: { type: 'string' } } } } },
        errors: [401],
      }),
    },
    '/metrics/queues': {
      get: ops({
        summary: `The depth of every queue, for an autoscaler (KEDA’s metrics-api scaler reads queues.convert.backlog or .demand). ${metricsToken}`,
        ok: {
          '200': json({
            type: 'object',
            properties: {
              queues: {
                type: 'object',
                additionalProperties: {
                  type: 'object',
                  properties: Object.fromEntries(
                    ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'backlog', 'demand'].map((k) => [
                      k,
                      { type: 'integer' },
                    ]),
                  ),
                },
              },
            },
          }),
        },
        errors: [401, 503],
      }),
    },
    '/docs': {
      get: ops({
        summary: 'This document as a readable index (HTML)',
        ok: { '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } },
      }),
    },
    '/docs/openapi.json': {
      get: ops({ summary: 'This document (OpenAPI 3.1)', ok: { '200': json({ type: 'object' }) } }),
    },
  };
}
