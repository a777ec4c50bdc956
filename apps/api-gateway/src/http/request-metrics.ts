import type { Request, Response } from 'express';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * The `route` label of a request: the Express route pattern that answered it (`/v1/jobs/:id`),
 * never the raw URL, so ids stay out of the label; `unmatched` when no route matched (404s,
 * answers from middleware such as the JSON body parser or static files).
 */
export function routeLabel(req: Pick<Request, 'route' | 'baseUrl'>): string {
  const path: unknown = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof path !== 'string') return 'unmatched';
  return `${req.baseUrl ?? ''}${path}` || '/';
}

/** The `method` label: the standard verbs, anything else as `other`. */
export function methodLabel(method: string): string {
  const m = method.toUpperCase();
  return METHODS.has(m) ? m : 'other';
}

/** The `status` label: the answer's code, or `aborted` when the connection closed before the answer ended. */
export function statusLabel(res: Pick<Response, 'statusCode' | 'writableFinished'>): string {
  return res.writableFinished ? String(res.statusCode) : 'aborted';
}
