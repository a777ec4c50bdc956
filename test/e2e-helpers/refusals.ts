// The stack the refusal e2e files share (one gateway, an assembler, no converter: a queued job stays
// queued, so it is a locked job that nothing moves on), the probe of its stored state, and the
// requests the tests make: jobs, chunks, upload sessions, bodies streamed without Content-Length.
import { createHash, randomBytes } from 'node:crypto';
import type { ClientRequest } from 'node:http';
import { Stack, json, waitFor } from '../stack';
import { openRequest } from './raw-http';
import { type Answer, type ExpectedRefusal, StoredStateProbe, expectRefusedWithoutTrace } from './stored-state';

export const MiB = 1024 * 1024;
export const KiB = 1024;
/** KILN_MAX_FILE_SIZE of this stack. */
export const MAX_FILE = 16 * MiB;
/** KILN_CHUNK_SIZE_MIN / _MAX of this stack. */
export const CHUNK_MIN = 100 * KiB;
export const CHUNK_MAX = 8 * MiB;

export const sha256Hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
export const sha256B64 = (b: Buffer) => createHash('sha256').update(b).digest('base64');
/** The digest of other bytes: what a chunk whose bytes were damaged on the way is checked against. */
export const wrongDigest = () => sha256Hex(randomBytes(16));
export const range = (start: number, end: number, total: number) => `bytes ${start}-${end}/${total}`;

export class RefusalStack {
  readonly stack = new Stack();
  readonly probe = new StoredStateProbe(this.stack);

  constructor(private readonly env: Record<string, string> = {}) {}

  async start(): Promise<void> {
    await this.stack.start({
      gateways: 1,
      converters: 0,
      env: {
        KILN_MAX_FILE_SIZE: String(MAX_FILE),
        KILN_CHUNK_SIZE_MIN: String(CHUNK_MIN),
        KILN_CHUNK_SIZE_MAX: String(CHUNK_MAX),
        ...this.env,
      },
    });
    await this.probe.start();
  }

  async stop(): Promise<void> {
    await this.probe.stop();
    await this.stack.stop();
  }

  /** The request must be refused with `expected`, and the stored state must be as it was. */
  refused = (expected: ExpectedRefusal, request: () => Promise<Answer>) =>
    expectRefusedWithoutTrace(this.probe, request, expected);

  jsonPost = (p: string, body: unknown, init: { key?: string | null; headers?: Record<string, string> } = {}) =>
    this.stack.api(p, {
      method: 'POST',
      key: init.key,
      headers: { 'Content-Type': 'application/json', ...init.headers },
      body: JSON.stringify(body),
    });

  /**
   * An upload (session or tus) that is assembled and whose chunk objects are gone: the assembler
   * marks it assembled, then deletes the chunks, so both are waited for.
   */
  settled = (uploadId: string) =>
    waitFor('assembly and its clean-up', async () => {
      if (!(await json(this.stack.api(`/v1/uploads/${uploadId}`))).assembled) return false;
      for await (const _ of this.probe.store.list(`chunks/${uploadId}/`)) return false;
      return true;
    });

  /** A job (process: false unless asked) with one jpg conversion; its JSON (id, token, input…). */
  job = async (body: Record<string, unknown> = {}) => {
    const res = await this.jsonPost('/v1/jobs', { process: false, conversion: [{ target: 'jpg' }], ...body });
    expect(res.status).toBe(201);
    return json(res);
  };

  /** A job that got its file and is queued (no converter runs here): it accepts nothing more. */
  lockedJob = async () => {
    const job = await this.job({ process: true });
    const up = await this.stack.api(`/v1/jobs/${job.id}/upload`, {
      method: 'POST',
      headers: { 'X-File-Name': 'photo.png', 'Content-Type': 'image/png' },
      body: randomBytes(2048),
    });
    expect(up.status).toBe(201);
    expect((await json(this.stack.api(`/v1/jobs/${job.id}`))).status.code).toBe('queued');
    return job;
  };

  /** An upload session (POST /v1/uploads); its JSON. */
  session = async (body: Record<string, unknown>) => {
    const res = await this.jsonPost('/v1/uploads', body);
    expect(res.status).toBe(201);
    return json(res);
  };

  /** One chunk of a job upload (X-Upload-Id + Content-Range). */
  jobChunk = (
    jobId: string,
    uploadId: string,
    contentRange: string,
    body: Buffer,
    headers: Record<string, string> = {},
    key?: string | null,
  ) =>
    this.stack.api(`/v1/jobs/${jobId}/upload`, {
      method: 'POST',
      key,
      headers: { 'X-Upload-Id': uploadId, 'X-File-Name': 'file.bin', 'Content-Range': contentRange, ...headers },
      body,
    });

  /** One chunk of an upload session (PUT /v1/uploads/{id}). */
  sessionChunk = (
    id: string,
    contentRange: string,
    body: Buffer,
    headers: Record<string, string> = {},
    key?: string | null,
  ) =>
    this.stack.api(`/v1/uploads/${id}`, {
      method: 'PUT',
      key,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': contentRange, ...headers },
      body,
    });

  /**
   * A request whose body goes out piece by piece without Content-Length (chunked transfer
   * encoding): the gateway learns its length only when it ends, after it stored what came before.
   */
  streamed = async (
    pathname: string,
    method: string,
    headers: Record<string, string>,
    pieces: Buffer[],
    key: string | null = this.stack.apiKey,
  ) => {
    const { req, answer } = openRequest(`${this.stack.url}${pathname}`, method, {
      ...(key === null ? {} : { 'X-Api-Key': key }),
      ...headers,
    });
    for (const piece of pieces) {
      if (req.destroyed) break;
      if (!req.write(piece)) await writable(req);
    }
    req.end();
    return answer;
  };
}

/** A refusal stack for the enclosing describe block (stopped after it). */
export function useRefusalStack(env: Record<string, string> = {}): RefusalStack {
  const r = new RefusalStack(env);
  beforeAll(() => r.start());
  afterAll(() => r.stop());
  return r;
}

/** Resolves when the request can take more body (or is gone). */
function writable(req: ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      req.off('drain', done);
      req.off('close', done);
      resolve();
    };
    req.once('drain', done);
    req.once('close', done);
  });
}

/** `count` pieces of `size` random bytes. */
export function pieces(count: number, size: number): Buffer[] {
  return Array.from({ length: count }, () => randomBytes(size));
}
