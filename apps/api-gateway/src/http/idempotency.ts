import { createHash } from 'node:crypto';
import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import { catchError, concatMap, from, of, throwError, type Observable } from 'rxjs';
import { ErrorStatus, KilnError, type ErrorCode, type ErrorDetail } from '@kiln/contracts';
import { IdempotencyStore, PRISMA, type PrismaClient, type StoredAnswer } from '@kiln/database';
import { LOGGER, type Logger } from '@kiln/observability';
import type { Principal } from '../auth/principal';
import { hasBody, isRawBodyRoute, readsOwnBody } from './body-routes';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
export const REPLAYED_HEADER = 'Idempotent-Replayed';
/** Seconds a second request with a key still running is told to wait (409 conflict). */
export const RUNNING_RETRY_AFTER_SECONDS = 1;

/** 1–255 visible ASCII characters (0x21–0x7E). */
const KEY_FORMAT = /^[\x21-\x7e]{1,255}$/;

/** Headers of a first answer that are replayed with it (JSON routes' Location; tus creation's answer is all headers). */
const KEPT_HEADERS = ['Location', 'Upload-Expires', 'Kiln-Job-Id'];

/** A tus creation without bytes (POST /v1/tus): its request and its answer are all headers. */
function isTusCreation(req: Pick<Request, 'method' | 'path' | 'headers'>): boolean {
  return req.method === 'POST' && /^\/v1\/tus\/?$/.test(req.path) && !hasBody(req);
}

/**
 * The routes an Idempotency-Key applies to: every POST with a JSON (or empty) body, and the tus
 * creation without bytes. File bytes (whole-file and chunked uploads, tus PATCH and
 * creation-with-upload) are never buffered to fingerprint them: those uploads are idempotent by
 * their Content-Range / Upload-Offset already.
 */
export function takesIdempotencyKey(req: Pick<Request, 'method' | 'path' | 'headers'>): boolean {
  if (req.method !== 'POST') return false;
  return isTusCreation(req) || (!isRawBodyRoute(req) && !readsOwnBody(req));
}

/** The header's key, or a 400 naming the header; undefined when the request has none. */
export function idempotencyKeyOf(req: Pick<Request, 'headers'>): string | undefined {
  const value = req.headers['idempotency-key'];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !KEY_FORMAT.test(value)) {
    throw new KilnError('invalid_input', `${IDEMPOTENCY_HEADER} must be 1 to 255 visible ASCII characters.`, [
      { field: IDEMPOTENCY_HEADER, message: '1 to 255 characters from ! to ~ (no spaces, no control characters)' },
    ]);
  }
  return value;
}

/** JSON with every object's keys sorted: the same value gives the same text, however it was written. */
export function canonicalJson(value: unknown): string {
  return (
    JSON.stringify(value, (_key, v: unknown) =>
      v !== null && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        : v,
    ) ?? 'null'
  );
}

/**
 * What makes two requests "the same" (hex SHA-256): method, path and the body's canonical JSON; for a
 * tus creation, its Upload-Length, Upload-Defer-Length and Upload-Metadata instead of a body.
 */
export function requestFingerprint(req: Pick<Request, 'method' | 'path' | 'body' | 'headers'>): string {
  const content = isTusCreation(req)
    ? ['upload-length', 'upload-defer-length', 'upload-metadata'].map((h) => req.headers[h] ?? null)
    : req.body;
  return createHash('sha256').update(`${req.method} ${req.path}\n`).update(canonicalJson(content)).digest('hex');
}

/**
 * `Idempotency-Key` on POSTs that create something: the first answer to a key (per API key owner) is
 * stored in PostgreSQL and replayed for 24 h to the same method, path and body, with
 * `Idempotent-Replayed: true`. Another body under the key: 422 idempotency_mismatch; the first still
 * running: 409 conflict with Retry-After. 2xx and 4xx answers are kept; a 5xx, an unexpected error, a
 * 408 or a 429 (worth retrying as such) gives the key back so that a retry runs again.
 * Runs after JsonBodyInterceptor: the body is parsed, the caller authenticated.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  private readonly store: IdempotencyStore;

  constructor(
    @Inject(PRISMA) prisma: PrismaClient,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    this.store = new IdempotencyStore(prisma);
  }

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (context.getType() !== 'http') return next.handle();
    const req = context.switchToHttp().getRequest<Request & { principal?: Principal }>();
    const res = context.switchToHttp().getResponse<Response>();
    if (!takesIdempotencyKey(req) || !req.principal) return next.handle();
    const key = idempotencyKeyOf(req);
    if (key === undefined) return next.handle();
    const owner = req.principal.ownerKeyHash;

    const outcome = await this.store.claim(owner, key, requestFingerprint(req));
    if (outcome.kind === 'mismatch') {
      throw new KilnError(
        'idempotency_mismatch',
        `This ${IDEMPOTENCY_HEADER} was used for another request (method, path or body differ); use a new key for a new request.`,
        [{ field: IDEMPOTENCY_HEADER, message: 'already used with another request' }],
      );
    }
    if (outcome.kind === 'running') {
      throw new KilnError(
        'conflict',
        `The first request with this ${IDEMPOTENCY_HEADER} has not been answered yet; retry after ${RUNNING_RETRY_AFTER_SECONDS} s.`,
        [{ field: IDEMPOTENCY_HEADER, message: 'a request with this key is still running' }],
        { 'Retry-After': String(RUNNING_RETRY_AFTER_SECONDS) },
      );
    }
    if (outcome.kind === 'done') {
      const body = replay(res, outcome.answer);
      if (!isTusCreation(req)) return of(body);
      // The tus handler writes its own answer (@Res): it sends this one instead, with tus's own headers.
      (req as Request & { [REPLAYED_ANSWER]?: StoredAnswer })[REPLAYED_ANSWER] = {
        ...outcome.answer,
        headers: { ...outcome.answer.headers, [REPLAYED_HEADER]: 'true' },
      };
      return next.handle();
    }

    const { claim } = outcome;
    // A handler that writes its own answer (@Res) stores it before sending it, so that a retry sent
    // after that answer arrived is replayed rather than told the first is still running.
    (req as Request & { [KEEP_BEFORE_SENDING]?: KeepAnswer })[KEEP_BEFORE_SENDING] = (answer) =>
      this.keep(owner, key, claim, {
        status: answer.status,
        body: null,
        headers: Object.fromEntries(KEPT_HEADERS.flatMap((h) => (answer.headers[h] ? [[h, answer.headers[h]]] : []))),
      });
    return next.handle().pipe(
      concatMap(async (body: unknown) => {
        const headers: Record<string, string> = {};
        for (const name of KEPT_HEADERS) {
          const value = res.getHeader(name);
          if (value !== undefined) headers[name] = String(value);
        }
        await this.keep(owner, key, claim, { status: res.statusCode, body: body ?? null, headers });
        return body;
      }),
      catchError((err: unknown) => {
        const kept =
          err instanceof KilnError && err.status < 500 && err.code !== 'rate_limited' && err.code !== 'request_timeout';
        const done = kept
          ? this.keep(owner, key, claim, { status: err.status, body: err.toBody(), headers: err.headers ?? {} })
          : this.store.release(owner, key, claim).catch((e: unknown) => {
              // Not released: the claim goes stale and is taken over after a minute.
              this.log.warn({ err: e }, 'releasing an idempotency key failed');
            });
        return from(done).pipe(concatMap(() => throwError(() => err)));
      }),
    );
  }

  /** The answer is sent even when it cannot be stored: the claim then goes stale and a retry runs again. */
  private async keep(owner: string, key: string, claim: string, answer: StoredAnswer): Promise<void> {
    try {
      await this.store.complete(owner, key, claim, answer);
    } catch (err: unknown) {
      this.log.warn({ err }, 'storing the answer of an idempotency key failed');
    }
  }
}

const REPLAYED_ANSWER = Symbol('kiln:idempotent-replay');
const KEEP_BEFORE_SENDING = Symbol('kiln:idempotent-keep');
type KeepAnswer = (answer: { status: number; headers: Record<string, string> }) => Promise<void>;

/**
 * For a handler that writes its own answer (`@Res`: the tus creation): stores that answer under the
 * request's Idempotency-Key claim; call it before sending. Nothing to do without a claim.
 */
export async function keepBeforeSending(
  req: Request,
  answer: { status: number; headers: Record<string, string> },
): Promise<void> {
  await (req as Request & { [KEEP_BEFORE_SENDING]?: KeepAnswer })[KEEP_BEFORE_SENDING]?.(answer);
}

/**
 * The stored answer a handler that writes its own answer (`@Res`: the tus creation) sends instead of
 * running, headers included; undefined when the request is not a replay.
 */
export function replayedAnswer(req: Request): StoredAnswer | undefined {
  return (req as Request & { [REPLAYED_ANSWER]?: StoredAnswer })[REPLAYED_ANSWER];
}

/** Sends the stored answer again: an error as the error it was, anything else as the route's answer. */
function replay(res: Response, answer: StoredAnswer): unknown {
  const headers = { ...answer.headers, [REPLAYED_HEADER]: 'true' };
  if (answer.status >= 400) {
    const error = (answer.body as { error?: { code?: string; message?: string; details?: ErrorDetail[] } } | null)
      ?.error;
    const code: ErrorCode = error?.code && error.code in ErrorStatus ? (error.code as ErrorCode) : 'invalid_input';
    throw new KilnError(
      code,
      error?.message ?? 'The first request with this key was refused.',
      error?.details,
      headers,
    );
  }
  res.set(headers);
  res.status(answer.status);
  return answer.body;
}
