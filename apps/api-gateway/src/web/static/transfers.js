// One file on its way, as one item of "This session": the job is created, the file uploaded, the
// conversion followed live, and the outputs offered for download. Phases, in data-phase:
// creating → uploading → (paused, with a resume button) → converting → final.
import { api, ApiError, isRetryable } from './api.js';
import { $ } from './dom.js';
import { failureOf, isFinalStatus } from './display.js';
import { followJob } from './events.js';
import { refreshRecent } from './jobs.js';
import { TransferView } from './transfer-view.js';

/** Every transfer of this page, newest first. */
export const transfers = [];

export class Transfer {
  /** newUpload(file, { jobId, token }, { onSending, onProgress }) makes the upload (see upload.js). */
  constructor(file, target, options, newUpload) {
    this.file = file;
    this.target = target;
    this.options = options;
    this.newUpload = newUpload;
    this.job = null;
    this.token = null;
    this.upload = null;
    this.phase = 'creating';
    this.status = null;
    this.progress = 0;
    this.message = '';
    this.canceled = false;
    this.events = new AbortController();
    this.view = new TransferView(file, target);
    this.render();
    transfers.unshift(this);
    $('#transfers').prepend(this.view.node);
    $('#transfers-card').hidden = false;
  }

  async run() {
    try {
      if (this.file.size === 0) throw new ApiError(400, 'The file is empty.', 'invalid_input');
      const name = this.file.name.slice(0, 255);
      const job = await api('/web/jobs', {
        method: 'POST',
        json: {
          input: [{ type: 'upload', filename: name, size: this.file.size }],
          conversion: [{ target: this.target, options: this.options }],
        },
      });
      this.token = job.token;
      this.applyJob(job);
      void refreshRecent();
      void this.watch();
      this.upload = this.newUpload(
        this.file,
        { jobId: job.id, token: job.token },
        {
          onSending: () => this.sending(),
          onProgress: () => this.renderBars(),
        },
      );
      await this.upload.start();
      this.uploaded();
    } catch (err) {
      this.failUpload(err);
    }
  }

  /** After an interruption: the upload sends what the server is missing. */
  async resume() {
    try {
      await this.upload.resume();
      this.uploaded();
    } catch (err) {
      this.failUpload(err);
    }
  }

  sending() {
    this.phase = 'uploading';
    this.message = '';
    this.render();
  }

  uploaded() {
    if (this.isFinal()) return;
    this.phase = 'converting';
    this.render();
  }

  /** Network trouble leaves a resumable upload paused; anything else ends the transfer. */
  failUpload(err) {
    if (this.canceled || err.code === 'aborted') return;
    const resumable = !!this.upload && this.upload.canResume && isRetryable(err);
    this.phase = resumable ? 'paused' : 'final';
    this.message = resumable ? `Upload interrupted: ${err.message}` : err.message;
    if (!resumable) this.status = isFinalStatus(this.status) ? this.status : 'failed';
    this.render();
  }

  watch() {
    return followJob(this.job.id, this.token, {
      onStatus: ({ status, progress }) => {
        this.status = status;
        this.progress = progress;
        this.render();
      },
      onJob: (job) => this.applyJob(job),
      isOver: () => this.isFinal() || this.canceled,
      signal: this.events.signal,
    });
  }

  applyJob(job) {
    this.job = job;
    this.status = job.status.code;
    this.progress = job.progress;
    if (isFinalStatus(this.status)) {
      const wasFinal = this.phase === 'final';
      this.phase = 'final';
      if (this.status === 'failed') this.message = failureOf(job);
      this.events.abort();
      if (this.upload) this.upload.abort();
      if (!wasFinal) void refreshRecent();
    }
    this.render();
  }

  isFinal() {
    return this.phase === 'final' || isFinalStatus(this.status);
  }

  async cancel() {
    this.canceled = true;
    if (this.upload) this.upload.abort();
    this.events.abort();
    if (!this.job) return;
    try {
      this.applyJob(await api(`/web/jobs/${encodeURIComponent(this.job.id)}`, { method: 'DELETE' }));
    } catch (err) {
      this.message = err.message;
      this.render();
    }
  }

  render() {
    this.view.show(this);
  }

  renderBars() {
    this.view.showProgress(this);
  }
}
