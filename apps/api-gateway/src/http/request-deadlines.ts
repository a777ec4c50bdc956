import type { NextFunction, Request, Response } from 'express';
import { KilnError } from '@kiln/contracts';
import { hasBody, isRawBodyRoute } from './body-routes';

export interface RequestDeadlines {
  /** A JSON or form body must arrive whole within this. */
  bodyTimeoutMs: number;
  /** A file body that moves no byte for this long is cut. */
  uploadIdleMs: number;
}

/**
 * Slow clients do not hold connections: an API body (JSON, login form) must arrive whole within
 * `bodyTimeoutMs` (else 408 and the connection closes), and a file upload must keep moving (no byte
 * for `uploadIdleMs`: the connection is cut, the bytes already stored stay resumable). A slow upload
 * that keeps moving is never cut. Runs first, before authentication.
 */
export function requestDeadlines(deadlines: RequestDeadlines) {
  return (req: Request & { id?: string }, res: Response, next: NextFunction): void => {
    if (!hasBody(req)) return next();
    const socket = req.socket;
    if (isRawBodyRoute(req)) {
      // Reads and writes both count as movement; Node destroys the socket on the idle timeout.
      socket.setTimeout(deadlines.uploadIdleMs);
      const stop = () => socket.setTimeout(0);
      req.once('end', stop);
      req.once('close', stop);
      return next();
    }
    const timer = setTimeout(() => {
      if (req.complete) return;
      const error = new KilnError(
        'request_timeout',
        `The request body did not arrive within ${Math.round(deadlines.bodyTimeoutMs / 1000)} s.`,
      );
      if (!res.headersSent) {
        res.setHeader('Connection', 'close');
        res.status(error.status).json(error.toBody(req.id));
      }
      // Connection: close ends the socket once the answer is written; a client that never reads it is cut anyway.
      setTimeout(() => socket.destroy(), 1_000).unref();
    }, deadlines.bodyTimeoutMs);
    timer.unref();
    const clear = () => clearTimeout(timer);
    req.once('end', clear);
    req.once('close', clear);
    next();
  };
}
