import type { Request } from 'express';

/** Routes whose body is file bytes: they stay raw streams, never parsed or buffered. */
export function isRawBodyRoute(req: Pick<Request, 'method' | 'path'>): boolean {
  if (/^\/v1\/jobs\/[^/]+\/upload\/?$/.test(req.path)) return true;
  if (req.method === 'PUT' && /^\/v1\/uploads\/[^/]+\/?$/.test(req.path)) return true;
  return /^\/v1\/tus(\/|$)/.test(req.path);
}

/** Routes that read their own small body (the web login form). */
export function readsOwnBody(req: Pick<Request, 'method' | 'path'>): boolean {
  return req.method === 'POST' && /^\/web\/session\/?$/.test(req.path);
}

/** A request that carries a body (declared length above zero, or chunked). */
export function hasBody(req: Pick<Request, 'headers'>): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = Number(req.headers['content-length']);
  return Number.isFinite(length) && length > 0;
}
