// Raw S3 requests over node:http for what minio-js does not do well: a presigned PUT whose body is
// streamed with backpressure (minio-js buffers or hashes it), and small requests whose answer must be
// read whatever its status (minio-js retries a 500 and then throws the status away). Every S3 error
// document read here goes through parseS3Error.
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

import { S3RequestError, parseS3Error } from './s3-errors';

/** A raw PUT (presigned URL: no payload signing) whose body is written piece by piece. */
export class PutRequest {
  private readonly req: http.ClientRequest;
  private readonly answer: Promise<string>;
  private settled: { error?: unknown } | undefined;
  /** A write waiting for 'drain'; failed instead when the request settles first. */
  private waiter: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  /** A relay in progress, stopped when the request settles first. */
  private relaying: ((error: unknown) => void) | undefined;

  constructor(url: string, length: number, contentType: string | undefined, idleTimeoutMs: number) {
    const target = new URL(url);
    const headers: http.OutgoingHttpHeaders = { 'content-length': length };
    if (contentType) headers['content-type'] = contentType;
    this.req = (target.protocol === 'https:' ? https : http).request(target, { method: 'PUT', headers });
    this.req.setTimeout(idleTimeoutMs, () => this.req.destroy(idleError(idleTimeoutMs)));
    this.req.on('drain', () => this.wake());
    this.answer = new Promise<string>((resolve, reject) => {
      this.req.once('response', (res) => readPutAnswer(res).then(resolve, reject));
      this.req.on('error', reject); // may fire more than once (e.g. after destroy); later calls are no-ops
    });
    this.answer.then(
      () => this.settle({}),
      (error: unknown) => this.settle({ error }),
    );
  }

  /** Writes a chunk; resolves once the socket can take more (backpressure). */
  async write(chunk: Buffer): Promise<void> {
    this.throwIfSettled();
    if (this.req.write(chunk)) return;
    await new Promise<void>((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /**
   * Streams `body` into the request as `pipe` does: 'data' events written straight to the socket,
   * the body paused while the socket is full and resumed on 'drain' (no promise or async iterator
   * per piece). `take` sees every piece before it is sent and may throw to stop (a limit, a length);
   * the piece that brings the count to `length` is held back until the body has ended and `finish`
   * has passed, so the server never gets a complete body from a stream that turns out longer.
   * Resolves once the body has ended and every byte was handed to the socket (then call `end`). On
   * failure the body is left paused with no listener of ours, not destroyed: it belongs to the caller.
   */
  relay(body: Readable, length: number, take: (chunk: Buffer) => void, finish: () => void): Promise<void> {
    this.throwIfSettled();
    return new Promise<void>((resolve, reject) => {
      let seen = 0;
      let held: Buffer | undefined;
      let done = false;
      const stop = (error?: unknown): void => {
        if (done) return;
        done = true;
        this.relaying = undefined;
        body.off('data', onData);
        body.off('end', onEnd);
        body.off('error', onError);
        body.off('close', onClose);
        this.req.off('drain', onDrain);
        if (error === undefined) {
          resolve();
          return;
        }
        body.pause();
        reject(error);
      };
      const onData = (piece: unknown): void => {
        const chunk = asBuffer(piece);
        if (!chunk) return stop(new TypeError('put body must yield bytes'));
        if (!chunk.length) return;
        try {
          take(chunk);
        } catch (error: unknown) {
          return stop(error);
        }
        seen += chunk.length;
        if (seen === length) {
          held = chunk;
          return;
        }
        if (!this.req.write(chunk)) body.pause();
      };
      const onDrain = (): void => {
        if (!done) body.resume();
      };
      const onEnd = (): void => {
        try {
          finish();
        } catch (error: unknown) {
          return stop(error);
        }
        if (held) this.req.write(held);
        stop();
      };
      const onError = (error: unknown): void => stop(error);
      const onClose = (): void => {
        if (!body.readableEnded) stop(prematureClose());
      };
      this.relaying = stop;
      if (body.errored) return stop(body.errored);
      if (body.readableEnded) return onEnd();
      if (body.destroyed) return stop(prematureClose());
      body.on('data', onData);
      body.once('end', onEnd);
      body.on('error', onError);
      body.once('close', onClose);
      this.req.on('drain', onDrain);
      body.resume();
    });
  }

  /** Ends the body and returns the object's ETag (without quotes; empty when S3 sent none). */
  async end(): Promise<string> {
    this.throwIfSettled();
    this.req.end();
    return this.answer;
  }

  abort(): void {
    if (!this.req.destroyed) this.req.destroy();
  }

  private settle(outcome: { error?: unknown }): void {
    this.settled ??= outcome;
    this.wake();
    this.relaying?.(this.earlyError());
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    if (!waiter) return;
    if (this.settled) waiter.reject(this.earlyError());
    else waiter.resolve();
  }

  private throwIfSettled(): void {
    if (this.settled) throw this.earlyError();
  }

  private earlyError(): unknown {
    return this.settled?.error ?? new S3RequestError('S3 answered before the body was complete', 'EarlyAnswer');
  }
}

/** PUTs bytes already in memory (a part, or a small whole object); returns the ETag. */
export async function sendBuffered(
  url: string,
  bytes: Buffer,
  contentType: string | undefined,
  idleTimeoutMs: number,
): Promise<string> {
  const request = new PutRequest(url, bytes.length, contentType, idleTimeoutMs);
  try {
    if (bytes.length) await request.write(bytes);
    return await request.end();
  } catch (err: unknown) {
    request.abort();
    throw err;
  }
}

/** A small S3 request with a text body (or none) whose answer is read as text, whatever its status. */
export async function sendText(
  method: string,
  url: string,
  body: string | undefined,
  idleTimeoutMs: number,
): Promise<{ status: number; text: string }> {
  const target = new URL(url);
  const payload = body === undefined ? undefined : Buffer.from(body, 'utf8');
  const headers: http.OutgoingHttpHeaders = payload
    ? { 'content-length': payload.length, 'content-type': 'application/xml' }
    : {};
  return new Promise((resolve, reject) => {
    const req = (target.protocol === 'https:' ? https : http).request(target, { method, headers });
    req.setTimeout(idleTimeoutMs, () => req.destroy(idleError(idleTimeoutMs)));
    req.once('response', (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < 1024 * 1024) parts.push(chunk); // answers here are small XML documents
        size += chunk.length;
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
      res.once('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Reads the answer to a CopyObject sent through minio-js (which has already thrown for a non-2xx
 * status): S3 can answer 200 and report the failure in an `<Error>` body.
 */
export async function readCopyAnswer(res: http.IncomingMessage): Promise<void> {
  let text = '';
  for await (const chunk of res as AsyncIterable<Buffer>) text += chunk.toString('utf8');
  const error = parseS3Error(text);
  if (error) {
    const code = error.code ?? 'CopyFailed';
    throw new S3RequestError(`CopyObject failed: ${code}`, code, res.statusCode);
  }
}

/** An ETag as S3 sends it ("…", quotes included) without its quotes. */
export function stripEtagQuotes(etag: string): string {
  return etag.replace(/^"|"$/g, '');
}

/** Reads the answer to a PUT: the ETag on 2xx, else an S3RequestError from the XML error body. */
async function readPutAnswer(res: http.IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (size < 64 * 1024) parts.push(chunk);
    size += chunk.length;
  }
  const status = res.statusCode ?? 0;
  if (status >= 200 && status < 300) return stripEtagQuotes(String(res.headers.etag ?? ''));
  const error = parseS3Error(Buffer.concat(parts).toString('utf8'));
  const code = error?.code ?? `HTTP${status}`;
  const message = error?.message ?? code;
  throw new S3RequestError(`S3 PUT failed: ${status} ${code}: ${message}`, code, status);
}

/** A piece of a body as a Buffer (strings and typed arrays too); undefined for anything else. */
function asBuffer(piece: unknown): Buffer | undefined {
  if (Buffer.isBuffer(piece)) return piece;
  if (typeof piece === 'string') return Buffer.from(piece);
  if (piece instanceof Uint8Array) return Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
  return undefined;
}

function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

function idleError(idleTimeoutMs: number): S3RequestError {
  return new S3RequestError(`S3 request idle for ${idleTimeoutMs} ms`, 'RequestTimeout');
}
