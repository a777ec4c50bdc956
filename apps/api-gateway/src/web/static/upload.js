// One file's bytes into its job, through the gateway's upload sessions: POST /v1/uploads opens a
// session, chunks go up as Content-Range PUTs (several at once, each retried on network errors, 408,
// 429 and 5xx), and a resume asks the session which byte ranges it holds and sends only the rest.
//
// What a transfer relies on (another way of uploading, e.g. straight to storage, keeps the same shape):
//   new ChunkedUpload(file, { jobId, token }, { onSending, onProgress })
//   start()    resolves once the server holds the whole file; rejects with an ApiError
//   resume()   after a failure while canResume: sends what the server is missing
//   abort()    stops every request; start() and resume() then reject with code 'aborted'
//   canResume, done, loaded (bytes sent, counting requests in flight), rate() (bytes/s of this pass)
//   onSending() when a pass of sending starts, onProgress() whenever bytes move.
import { api, ApiError, errorFromAnswer, isRetryable, sleep } from './api.js';

const CHUNK_TARGET = 8 * 1024 * 1024; // clamped to the server's chunk_size_min..chunk_size_max
const PARALLEL_CHUNKS = 4; // per file
const PARALLEL_UPLOADS = 6; // for the whole page (the server also limits uploads in flight per key)
const CHUNK_ATTEMPTS = 5;
const MEDIA_TYPE = /^[\w.+-]+\/[\w.+-]+$/;

/** At most PARALLEL_UPLOADS chunk requests in flight across every file of the page. */
const slots = { free: PARALLEL_UPLOADS, waiting: [] };
async function withUploadSlot(work) {
  if (slots.free > 0) slots.free--;
  else await new Promise((resolve) => slots.waiting.push(resolve));
  try {
    return await work();
  } finally {
    const next = slots.waiting.shift();
    if (next) next();
    else slots.free++;
  }
}

const aborted = () => new ApiError(0, 'Canceled.', 'aborted');

export class ChunkedUpload {
  constructor(file, { jobId, token }, { onSending = () => {}, onProgress = () => {} } = {}) {
    this.file = file;
    this.jobId = jobId;
    this.token = token;
    this.onSending = onSending;
    this.onProgress = onProgress;
    this.id = null; // the upload session
    this.chunkSize = CHUNK_TARGET;
    this.sent = 0; // bytes the server has
    this.inflight = new Map(); // chunk start → bytes of it sent so far
    this.xhrs = new Set();
    this.passStartedAt = 0; // this pass (the first, or a resume): for the rate
    this.passStartBytes = 0;
    this.aborted = false;
    this.done = false;
  }

  get canResume() {
    return this.id !== null && !this.done && !this.aborted;
  }

  get loaded() {
    let inflight = 0;
    for (const n of this.inflight.values()) inflight += n;
    return Math.min(this.file.size, this.sent + inflight);
  }

  /** Bytes per second since this pass started (0 until it has run a second). */
  rate() {
    const seconds = (performance.now() - this.passStartedAt) / 1000;
    return seconds >= 1 ? (this.loaded - this.passStartBytes) / seconds : 0;
  }

  async start() {
    const { file } = this;
    const json = { filename: file.name.slice(0, 255), size: file.size, job_id: this.jobId };
    if (MEDIA_TYPE.test(file.type)) json.content_type = file.type;
    const session = await api('/v1/uploads', { method: 'POST', headers: { 'X-Job-Token': this.token }, json });
    this.id = session.id;
    this.chunkSize = Math.max(session.chunk_size_min, Math.min(session.chunk_size_max, CHUNK_TARGET));
    await this.sendMissing(session.received);
  }

  /** Resume: ask the server which byte ranges it has, send the rest. */
  async resume() {
    const now = await this.session();
    if (now.status === 'complete') this.finish();
    else await this.sendMissing(now.received);
  }

  abort() {
    this.aborted = true;
    for (const xhr of this.xhrs) xhr.abort();
  }

  session() {
    return api(`/v1/uploads/${encodeURIComponent(this.id)}`, { headers: { 'X-Job-Token': this.token } });
  }

  finish() {
    this.sent = this.file.size;
    this.done = true;
  }

  /** Sends every chunk the server does not have yet, a few at once, until the session says complete. */
  async sendMissing(received) {
    if (this.aborted) throw aborted();
    const size = this.file.size;
    const todo = [];
    for (let start = 0; start < size; start += this.chunkSize) {
      const end = Math.min(size, start + this.chunkSize) - 1;
      if (!received.some(([s, e]) => s <= start && e >= end)) todo.push([start, end]);
    }
    this.sent = size - todo.reduce((n, [s, e]) => n + (e - s + 1), 0);
    this.inflight.clear();
    this.passStartedAt = performance.now();
    this.passStartBytes = this.sent;
    this.onSending();
    let next = 0;
    let failure = null;
    let complete = false;
    const worker = async () => {
      while (next < todo.length && !failure && !this.aborted) {
        const [s, e] = todo[next++];
        try {
          const answer = await this.putWithRetry(s, e);
          if (answer && answer.status === 'complete') complete = true;
        } catch (err) {
          failure = failure || err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_CHUNKS, todo.length) }, worker));
    if (this.aborted) throw aborted();
    if (failure) throw failure;
    if (!complete) {
      const now = await this.session();
      if (now.status === 'failed') throw new ApiError(422, now.error || 'The upload failed.', 'unprocessable');
      if (now.status !== 'complete') return this.sendMissing(now.received);
    }
    this.finish();
  }

  async putWithRetry(start, end) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await withUploadSlot(() => this.put(start, end));
      } catch (err) {
        if (!isRetryable(err) || attempt >= CHUNK_ATTEMPTS || this.aborted) throw err;
        const wait = err.retryAfter ? Number(err.retryAfter) * 1000 : Math.min(8000, 500 * 2 ** (attempt - 1));
        await sleep(wait + Math.random() * 250);
      }
    }
  }

  /** One chunk: PUT with Content-Range (XMLHttpRequest, for upload progress). */
  put(start, end) {
    if (this.aborted) return Promise.reject(aborted());
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      const settle = () => {
        this.xhrs.delete(xhr);
        this.inflight.delete(start);
      };
      this.xhrs.add(xhr);
      xhr.open('PUT', `/v1/uploads/${encodeURIComponent(this.id)}`);
      xhr.setRequestHeader('X-Job-Token', this.token);
      xhr.setRequestHeader('Content-Range', `bytes ${start}-${end}/${this.file.size}`);
      xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      xhr.upload.onprogress = (e) => {
        this.inflight.set(start, e.loaded);
        this.onProgress();
      };
      xhr.onload = () => {
        settle();
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          /* not JSON */
        }
        if (xhr.status < 200 || xhr.status >= 300) {
          return reject(errorFromAnswer(xhr.status, body, xhr.getResponseHeader('Retry-After')));
        }
        this.sent += end - start + 1;
        this.onProgress();
        resolve(body);
      };
      xhr.onerror = () => {
        settle();
        reject(new ApiError(0, 'The connection was lost.', 'network'));
      };
      xhr.onabort = () => {
        settle();
        reject(aborted());
      };
      xhr.send(this.file.slice(start, end + 1));
    });
  }
}
