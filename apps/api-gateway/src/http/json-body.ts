import express, { type Request, type RequestHandler } from 'express';

/** Routes whose body is file bytes: they stay raw streams, never parsed or buffered. */
export function isRawBodyRoute(req: Pick<Request, 'method' | 'path'>): boolean {
  if (/^\/v1\/jobs\/[^/]+\/upload\/?$/.test(req.path)) return true;
  if (req.method === 'PUT' && /^\/v1\/uploads\/[^/]+\/?$/.test(req.path)) return true;
  return /^\/v1\/tus(\/|$)/.test(req.path);
}

/** JSON bodies for API routes (bounded); file routes are skipped whatever their Content-Type says. */
export function jsonBody(limit = '1mb'): RequestHandler {
  const parse = express.json({ limit, type: ['application/json', 'application/*+json'] });
  return (req, res, next) => (isRawBodyRoute(req) ? next() : parse(req, res, next));
}
