import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import express, { type Request, type RequestHandler, type Response } from 'express';
import type { Observable } from 'rxjs';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import { KilnError } from '@kiln/contracts';
import { hasBody, isRawBodyRoute, readsOwnBody } from './body-routes';

const JSON_TYPE = /^application\/([a-z0-9.+-]+\+)?json$/i;

/**
 * JSON bodies are read after the guards: an unauthenticated client is answered (401) before a byte of
 * its body is read. Bounded by KILN_JSON_BODY_LIMIT (413). A body of another type on a JSON route is a
 * 415, never an empty object.
 */
@Injectable()
export class JsonBodyInterceptor implements NestInterceptor {
  private readonly parse: RequestHandler;

  constructor(@Inject(KILN_CONFIG) config: KilnConfig) {
    this.parse = express.json({ limit: config.KILN_JSON_BODY_LIMIT, type: () => true });
  }

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (context.getType() !== 'http') return next.handle();
    const req = context.switchToHttp().getRequest<Request>();
    if (isRawBodyRoute(req) || readsOwnBody(req) || !hasBody(req)) return next.handle();
    const type = (req.header('content-type') ?? '').split(';')[0].trim();
    if (!JSON_TYPE.test(type)) {
      throw new KilnError(
        'unsupported_media_type',
        `Send this body as application/json (got ${type ? JSON.stringify(type.slice(0, 80)) : 'no Content-Type'}).`,
      );
    }
    const res = context.switchToHttp().getResponse<Response>();
    await new Promise<void>((resolve, reject) =>
      this.parse(req, res, (err?: unknown) => (err ? reject(err) : resolve())),
    );
    return next.handle();
  }
}
