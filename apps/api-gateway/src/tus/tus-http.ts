import {
  Catch,
  Injectable,
  type ArgumentsHost,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Observable } from 'rxjs';
import { ErrorFilter } from '../http/error.filter';
import { TusError, assertTusResumable, commonHeaders } from './tus-protocol';

/**
 * Before each handler of the tus endpoint: Tus-Resumable (and CORS) on the answer, and the
 * request's Tus-Resumable checked ("MUST be included in every request [...] except for OPTIONS").
 */
@Injectable()
export class TusHeadersInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const req = http.getRequest<Request>();
    http.getResponse<Response>().set(commonHeaders(req.header('origin'), req.method === 'OPTIONS'));
    if (req.method !== 'OPTIONS') assertTusResumable(req.header('tus-resumable'));
    return next.handle();
  }
}

/**
 * The API's error filter, plus what a tus answer carries even when it is an error (a guard's 401,
 * a 409): Tus-Resumable, CORS headers, and the reason phrase of tus-only codes (460).
 */
@Catch()
export class TusErrorFilter extends ErrorFilter {
  override catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const res = http.getResponse<Response>();
    const req = http.getRequest<Request>();
    if (!res.headersSent) {
      res.set(commonHeaders(req.header('origin')));
      if (exception instanceof TusError && exception.statusText) res.statusMessage = exception.statusText;
    }
    super.catch(exception, host);
  }
}
