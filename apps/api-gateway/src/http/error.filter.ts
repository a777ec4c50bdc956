import { ArgumentsHost, Catch, HttpException, Inject, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { KilnError, type ErrorCode } from '@kiln/contracts';
import { LOGGER, type Logger } from '@kiln/observability';
import { loggedUrl } from './request-context.middleware';

const BY_STATUS: Record<number, ErrorCode> = {
  400: 'invalid_input',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'invalid_input',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  416: 'range_not_satisfiable',
  422: 'unprocessable',
  429: 'rate_limited',
  503: 'unavailable',
};

/** Maps any error to the API's JSON error shape. Unexpected errors: 500 with a request id, no stack. */
export function toKilnError(err: unknown): KilnError {
  if (err instanceof KilnError) return err;
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const code = BY_STATUS[status] ?? (status >= 500 ? 'internal' : 'invalid_input');
    const message = status === 404 ? 'No such route.' : err.message;
    return new KilnError(code, message);
  }
  const e = err as { type?: string; status?: number; message?: string };
  // body-parser errors
  if (e?.type === 'entity.too.large') return new KilnError('payload_too_large', 'The JSON body is too large.');
  if (e?.type === 'entity.parse.failed')
    return new KilnError('invalid_input', 'The body is not valid JSON.', [
      { field: 'body', message: e.message ?? 'parse error' },
    ]);
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported')
    return new KilnError('unsupported_media_type', 'Unsupported body encoding.');
  if (isDependencyOutage(err)) {
    return new KilnError(
      'unavailable',
      'A service Kiln depends on is not reachable right now; try again shortly.',
      undefined,
      { 'Retry-After': '5' },
    );
  }
  if (isRefusedValue(err))
    return new KilnError('invalid_input', 'A value in the request is out of range or is not valid text.');
  return new KilnError('internal', 'Something went wrong on our side; the request id identifies it.');
}

/**
 * A value the database refused as data (SQLSTATE class 22: NUL in text, out of range, bad encoding;
 * Prisma P2000/P2006/P2007/P2033): the request's fault, a 400 — a safety net behind the schemas.
 */
function isRefusedValue(err: unknown): boolean {
  for (
    let e = err as { code?: unknown; cause?: unknown; originalCode?: unknown } | undefined, depth = 0;
    e && depth < 4;
    e = e.cause as typeof e, depth++
  ) {
    for (const code of [e.code, e.originalCode]) {
      if (
        typeof code === 'string' &&
        (/^22[0-9A-Z]{3}$/.test(code) || ['P2000', 'P2006', 'P2007', 'P2033'].includes(code))
      )
        return true;
    }
  }
  return false;
}

const OUTAGE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'RequestTimeout',
]);

/** Database, Redis or storage unreachable: a 503 the client may retry, not a bug (500). */
function isDependencyOutage(err: unknown): boolean {
  for (
    let e = err as { code?: unknown; name?: string; cause?: unknown; message?: string } | undefined, depth = 0;
    e && depth < 4;
    e = e.cause as typeof e, depth++
  ) {
    if (typeof e.code === 'string' && OUTAGE_CODES.has(e.code)) return true;
    if (e.name === 'S3RequestError' || e.name === 'QueueUnavailableError') return true;
    // Redis gave no answer within the gateway's command timeout (a partition: no RST, no answer),
    // or a command gave up after its reconnect attempts.
    if (
      e.name === 'MaxRetriesPerRequestError' ||
      (typeof e.message === 'string' && /^Command timed out$/.test(e.message))
    )
      return true;
    if (e.name === 'PrismaClientInitializationError') return true;
    // P2024: no pool connection in time; P2028: a transaction could not start in time (pool exhausted by a burst).
    if (typeof e.code === 'string' && ['P1001', 'P1002', 'P1017', 'P2024', 'P2028'].includes(e.code)) return true;
    if (typeof e.message === 'string' && /Unable to start a transaction in the given time/.test(e.message)) return true;
    if (
      typeof e.message === 'string' &&
      /Connection terminated|Can't reach database server|Stream isn't writeable|Connection is closed|connect ECONNREFUSED/.test(
        e.message,
      )
    )
      return true;
  }
  return false;
}

@Catch()
export class ErrorFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly log: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<Response>();
    const req = ctx.getRequest<Request & { id?: string }>();
    const error = toKilnError(exception);
    if (error.code === 'internal' || error.code === 'unavailable') {
      this.log.error(
        {
          reqId: req.id,
          err: exception instanceof Error ? { message: exception.message, stack: exception.stack } : String(exception),
          method: req.method,
          url: loggedUrl(req.originalUrl),
        },
        'unhandled error',
      );
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (const [k, v] of Object.entries(error.headers ?? {})) res.setHeader(k, v);
    const send = () => {
      if (!res.headersSent) res.status(error.status).json(error.toBody(req.id));
    };
    if (req.complete || req.destroyed) return send();
    const giveUp = () => {
      res.setHeader('Connection', 'close');
      send();
    };
    // An unauthenticated sender's body is never read, not even to discard it: answer and close.
    if (error.code === 'unauthorized' || !(req as { principal?: unknown }).principal) return giveUp();
    drainThen(req, send, giveUp);
  }
}

/** Bodies up to this size that we stopped reading are drained (discarded) so the client reads the answer. */
const DRAIN_LIMIT = 64 * 1024 * 1024;
const DRAIN_TIMEOUT_MS = 10_000;

/**
 * Many clients only read the answer once they have sent their whole body. A rejected body is read
 * and discarded (never stored) up to DRAIN_LIMIT; past that, or when it stalls, the connection is
 * closed after the answer instead.
 */
function drainThen(req: Request, drained: () => void, giveUp: () => void): void {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > DRAIN_LIMIT) return giveUp();
  let seen = 0;
  let done = false;
  const finish = (ok: boolean) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    req.off('data', onData);
    (ok ? drained : giveUp)();
  };
  const onData = (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > DRAIN_LIMIT) finish(false);
  };
  const timer = setTimeout(() => finish(false), DRAIN_TIMEOUT_MS);
  req.on('data', onData);
  req.once('end', () => finish(true));
  req.once('error', () => finish(false));
  req.once('close', () => finish(req.complete));
  req.resume();
}
