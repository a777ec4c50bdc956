// The walking skeleton's stack (a gateway, an assembler, two converters, a callback receiver, an
// 8 MiB file limit), a WAV to send, and the requests its e2e files make: jobs, multipart uploads,
// waiting for the end.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { makeAudio, makeTempDir } from '../../libs/media/src/testing';
import { CallbackReceiver } from '../callback-receiver';
import { Stack, json, waitFor } from '../stack';

export const MAX_FILE = 8 * 1024 * 1024;

export class SkeletonStack {
  readonly stack = new Stack();
  readonly receiver = new CallbackReceiver();
  tmp!: { dir: string; remove: () => Promise<void> };
  wav!: string;

  async start(): Promise<void> {
    this.tmp = await makeTempDir('kiln-e2e-');
    this.wav = await makeAudio({ path: path.join(this.tmp.dir, 'tone.wav'), seconds: 3, format: 'wav' });
    await this.receiver.start();
    await this.stack.start({ converters: 2, env: { KILN_MAX_FILE_SIZE: String(MAX_FILE) } });
  }

  async stop(): Promise<void> {
    await this.stack.stop();
    await this.receiver.stop();
    await this.tmp?.remove();
  }

  createJob = async (body: unknown, key?: string) => {
    const res = await this.stack.api('/v1/jobs', {
      method: 'POST',
      key,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { res, json: await json(res) };
  };

  uploadMultipart = async (jobId: string, file: string, headers: Record<string, string> = {}) => {
    const form = new FormData();
    form.append('file', new Blob([await readFile(file)]), path.basename(file));
    return this.stack.api(`/v1/jobs/${jobId}/upload`, { method: 'POST', body: form, headers });
  };

  finished = async (jobId: string) =>
    waitFor(
      'job to finish',
      async () => {
        const j = await json(this.stack.api(`/v1/jobs/${jobId}`));
        return ['completed', 'failed', 'canceled'].includes(j.status.code) ? j : undefined;
      },
      120_000,
    );
}

/** Starts the walking skeleton's stack for the enclosing describe block (stopped after it). */
export function useSkeletonStack(): SkeletonStack {
  const s = new SkeletonStack();
  beforeAll(() => s.start());
  afterAll(() => s.stop());
  return s;
}
