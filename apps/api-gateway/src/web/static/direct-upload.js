// One file's bytes into its job straight to storage (S3): Uppy (@uppy/aws-s3, bundled as uppy.js) runs
// Kiln's direct upload session through the gateway's Uppy endpoints (/v1/uppy/t/<job token>/s3/…): the
// gateway opens the session and signs each part, the browser PUTs the parts to S3 itself, and Kiln's
// complete checks every part before the job goes on. No byte of the file passes through the gateway.
// After an interruption, resume() lets Uppy ask which parts S3 holds (list parts) and send the rest.
// Same shape as ChunkedUpload (upload.js), which it falls back to when the server offers no direct uploads.
import { api, ApiError } from './api.js';
import { ChunkedUpload } from './upload.js';
import { AwsS3, Uppy } from './uppy.js';

/** A refusal by Kiln (not worth resuming): Uppy reports the answer's status text only. */
const REFUSED =
  /request failed: (Bad Request|Unauthorized|Forbidden|Not Found|Conflict|Payload Too Large|Unprocessable)/i;

const aborted = () => new ApiError(0, 'Canceled.', 'aborted');

/** Whether the server offers direct uploads (GET /v1/uploads/modes); an older server answers 404. */
async function directOffered(token) {
  try {
    const modes = await api('/v1/uploads/modes', { headers: { 'X-Job-Token': token } });
    return Array.isArray(modes.modes) && modes.modes.includes('direct');
  } catch {
    return false;
  }
}

export class DirectUpload {
  constructor(file, job, events = {}) {
    this.file = file;
    this.job = job;
    this.onSending = events.onSending || (() => {});
    this.onProgress = events.onProgress || (() => {});
    this.fallback = null; // a ChunkedUpload when direct uploads are not offered
    this.uppy = null;
    this.fileId = null;
    this.uploadId = null; // the Kiln upload id (Uppy's uploadId)
    this.bytes = 0; // bytes S3 has or is receiving (Uppy's progress)
    this.sent = 0;
    this.passStartedAt = 0;
    this.passStartBytes = 0;
    this.aborted = false;
    this.done = false;
    this.settle = null; // the current pass's { resolve, reject }
  }

  get canResume() {
    if (this.fallback) return this.fallback.canResume;
    return this.fileId !== null && !this.done && !this.aborted;
  }

  get loaded() {
    if (this.fallback) return this.fallback.loaded;
    return this.done ? this.file.size : Math.min(this.file.size, this.bytes);
  }

  rate() {
    if (this.fallback) return this.fallback.rate();
    const seconds = (performance.now() - this.passStartedAt) / 1000;
    return seconds >= 1 ? (this.loaded - this.passStartBytes) / seconds : 0;
  }

  async start() {
    if (!(await directOffered(this.job.token))) {
      this.fallback = new ChunkedUpload(this.file, this.job, {
        onSending: this.onSending,
        onProgress: this.onProgress,
      });
      return this.fallback.start();
    }
    if (this.aborted) throw aborted();
    const uppy = new Uppy({ id: `kiln-${this.job.jobId}`, autoProceed: false, allowMultipleUploadBatches: true });
    uppy.use(AwsS3, {
      companionEndpoint: `${location.origin}/v1/uppy/t/${encodeURIComponent(this.job.token)}`,
      // Always Kiln's multipart session: Uppy then calls complete itself (a form POST would not).
      shouldUseMultipart: true,
    });
    uppy.on('upload-progress', (f, progress) => {
      if (f && f.id === this.fileId) {
        this.bytes = progress.bytesUploaded || 0;
        this.onProgress();
      }
    });
    uppy.on('upload-success', (f, response) => {
      if (!f || f.id !== this.fileId) return;
      const m = /\/v1\/uploads\/([0-9a-f-]{36})$/.exec(response.uploadURL || '');
      if (m) this.uploadId = m[1];
      this.finish();
      this.settle?.resolve();
    });
    uppy.on('upload-error', (f, err) => {
      if (!f || f.id !== this.fileId) return;
      const message = err?.message || 'The upload failed.';
      this.settle?.reject(
        REFUSED.test(message) ? new ApiError(400, message, 'invalid_input') : new ApiError(0, message, 'network'),
      );
    });
    this.uppy = uppy;
    this.fileId = uppy.addFile({
      name: this.file.name,
      type: this.file.type || 'application/octet-stream',
      data: this.file,
      // Uppy sends a file's metadata to the Uppy endpoints, not its size: Kiln needs both.
      meta: { job_id: this.job.jobId, size: this.file.size },
    });
    await this.pass(() => uppy.upload());
  }

  /** After an interruption: Uppy lists the parts S3 holds and sends the others. */
  async resume() {
    if (this.fallback) return this.fallback.resume();
    if (this.aborted) throw aborted();
    await this.pass(() => this.uppy.retryUpload(this.fileId));
  }

  abort() {
    this.aborted = true;
    if (this.fallback) return this.fallback.abort();
    if (this.uppy && !this.done) this.uppy.cancelAll();
    this.settle?.reject(aborted());
  }

  finish() {
    this.sent = this.file.size;
    this.done = true;
  }

  /** One pass of sending: resolves on Uppy's upload-success, rejects on its upload-error. */
  pass(kick) {
    this.passStartedAt = performance.now();
    this.passStartBytes = this.loaded;
    this.onSending();
    return new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
      Promise.resolve(kick()).catch(() => {
        /* reported through upload-error */
      });
    }).finally(() => {
      this.settle = null;
    });
  }
}
