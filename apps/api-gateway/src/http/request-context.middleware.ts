import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { KilnMetrics, Logger } from '@kiln/observability';
import { methodLabel, routeLabel, statusLabel } from './request-metrics';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** A URL as logged: a job token in the path (the Uppy endpoints, /v1/uppy/t/<token>/…) is left out. */
export function loggedUrl(url: string): string {
  return url.replace(/^(\/v1\/uppy\/t\/)[^/?]*/, '$1…');
}

/**
 * A request id on every request (taken from X-Request-Id when sane), echoed back, one log line per
 * request, and its duration in kiln_http_request_duration_seconds (route pattern read when it ends).
 */
export function requestContext(log: Logger, metrics?: KilnMetrics) {
  return (req: Request & { id?: string }, res: Response, next: NextFunction): void => {
    const given = req.header('x-request-id');
    req.id = given && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', req.id);
    const started = process.hrtime.bigint();
    if (metrics) {
      const end = metrics.httpRequestDuration.startTimer();
      // 'close' follows 'finish', and comes alone when the client went away before the answer ended.
      res.once('close', () =>
        end({ method: methodLabel(req.method), route: routeLabel(req), status: statusLabel(res) }),
      );
    }
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const level = res.statusCode >= 500 ? 'error' : 'info';
      log[level](
        {
          reqId: req.id,
          method: req.method,
          url: loggedUrl(req.originalUrl),
          status: res.statusCode,
          ms: Math.round(ms * 10) / 10,
        },
        'request',
      );
    });
    next();
  };
}
