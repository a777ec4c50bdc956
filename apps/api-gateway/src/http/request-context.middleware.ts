import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '@kiln/observability';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** A request id on every request (taken from X-Request-Id when sane), echoed back, and one log line per request. */
export function requestContext(log: Logger) {
  return (req: Request & { id?: string }, res: Response, next: NextFunction): void => {
    const given = req.header('x-request-id');
    req.id = given && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', req.id);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const level = res.statusCode >= 500 ? 'error' : 'info';
      log[level]({ reqId: req.id, method: req.method, url: req.originalUrl, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
    });
    next();
  };
}
