// The stack the chunked-upload e2e files share (two gateways, an assembler, a converter, a
// callback receiver) and the requests they make: sessions, chunks by Content-Range, job uploads.
import path from 'node:path';
import { makeTempDir } from '../../libs/media/src/testing';
import type { MinioObjectStore } from '../../libs/storage/src/minio-object-store';
import { CallbackReceiver } from '../callback-receiver';
import { readRange, sha256OfStream } from '../files';
import { Stack } from '../stack';
import { keysUnder, objectStoreOf } from './object-store';
import { assembledUpload, runMaintenance } from './uploads';

export const MiB = 1024 * 1024;

/** The running stack of one chunked-upload e2e file, its clients, and the requests the tests make. */
export class ChunkedUploadStack {
  readonly stack = new Stack();
  readonly receiver = new CallbackReceiver();
  tmp!: { dir: string; remove: () => Promise<void> };
  store!: MinioObjectStore;

  async start(): Promise<void> {
    this.tmp = await makeTempDir('kiln-chunks-');
    await this.receiver.start();
    await this.stack.start({
      gateways: 2,
      converters: 1,
      env: { KILN_CHUNK_SIZE_MIN: '100KiB', KILN_CHUNK_SIZE_MAX: '16MiB' },
    });
    this.store = objectStoreOf(this.stack);
  }

  async stop(): Promise<void> {
    await this.stack.stop();
    await this.receiver.stop();
    await this.tmp?.remove();
  }

  jsonPost = (p: string, body: unknown, base?: string) =>
    this.stack.api(p, {
      method: 'POST',
      base,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });

  /** Sends bytes `r` of `file` with their Content-Range. */
  private sendRange = async (
    pathname: string,
    method: string,
    headers: Record<string, string>,
    file: string,
    r: { start: number; end: number },
    total: number,
    base?: string,
  ) =>
    this.stack.api(pathname, {
      method,
      base,
      headers: { 'Content-Range': `bytes ${r.start}-${r.end}/${total}`, ...headers },
      body: await readRange(file, r.start, r.end),
    });

  putChunk = (
    uploadId: string,
    file: string,
    r: { start: number; end: number },
    total: number,
    base?: string,
    extra: Record<string, string> = {},
  ) =>
    this.sendRange(
      `/v1/uploads/${uploadId}`,
      'PUT',
      { 'Content-Type': 'application/octet-stream', ...extra },
      file,
      r,
      total,
      base,
    );

  jobChunk = (
    jobId: string,
    uploadId: string,
    file: string,
    r: { start: number; end: number },
    total: number,
    base?: string,
    extra: Record<string, string> = {},
  ) =>
    this.sendRange(
      `/v1/jobs/${jobId}/upload`,
      'POST',
      { 'X-Upload-Id': uploadId, 'X-File-Name': path.basename(file), ...extra },
      file,
      r,
      total,
      base,
    );

  /** Runs the assembler's expire-uploads maintenance task now and waits for it to finish. */
  runMaintenance = () => runMaintenance(this.stack);

  assembled = (uploadId: string) => assembledUpload(this.stack, uploadId);

  keysUnder = (prefix: string) => keysUnder(this.store, prefix);

  /**
   * The SHA-256 of an assembled standalone upload: its one object under uploads/<id>/ (the exact key
   * depends on how the chunks were stored: multipart parts, objects, or a mix), named after the file.
   */
  storedSha = async (uploadId: string, filename: string) => {
    const keys = await this.keysUnder(`uploads/${uploadId}/`);
    expect(keys).toHaveLength(1);
    expect(path.basename(keys[0])).toBe(filename);
    return sha256OfStream(await this.store.get(keys[0]));
  };
}

/** Starts a chunked-upload stack for the enclosing describe block (stopped after it). */
export function useChunkedUploadStack(): ChunkedUploadStack {
  const c = new ChunkedUploadStack();
  beforeAll(() => c.start());
  afterAll(() => c.stop());
  return c;
}
