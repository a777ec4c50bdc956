import type { NextFunction, Request, Response } from 'express';

/**
 * CORS for the Uppy endpoints (/v1/uppy/…): a page on any origin may run Uppy against Kiln. Credentials
 * are an API key or job token (header or path), never cookies: no Allow-Credentials, so a cross-origin
 * page cannot ride on a signed-in Kiln page's session. A preflight is answered here (204).
 */
export function uppyCors(req: Request, res: Response, next: NextFunction): void {
  const origin = req.header('origin');
  if (origin) {
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.append('Vary', 'Origin');
  }
  if (req.method === 'OPTIONS' && origin && req.header('access-control-request-method')) {
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, DELETE');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Api-Key, Authorization, X-Job-Token');
    res.setHeader('Access-Control-Max-Age', '86400');
    res.status(204).end();
    return;
  }
  next();
}
