'use strict';
// The Kiln web page: pick or drop files, choose a target and its options (from GET /v1/formats),
// upload through upload sessions (chunks in parallel, retried and resumable), follow the conversion
// live (Server-Sent Events read with fetch) and download the outputs.
//
// Credentials: this script never sees the API key. Calls to /web/* ride on the HttpOnly session
// cookie and send `X-Kiln-Web: 1` when they change something; each job's own token (returned when
// the page creates the job) authorizes that job's uploads and its events stream.
(() => {
  const CHUNK_TARGET = 8 * 1024 * 1024; // clamped to the server's chunk_size_min..chunk_size_max
  const PARALLEL_CHUNKS = 4; // per file
  const PARALLEL_UPLOADS = 6; // for the whole page (the server also limits uploads in flight per key)
  const CHUNK_ATTEMPTS = 5;
  const FINAL = ['completed', 'failed', 'canceled'];
  const DEFAULT_TARGET = { audio: 'mp3', video: 'mp4', image: 'jpg' };
  const STATUS_LABEL = {
    incomplete: 'Waiting for the upload',
    downloading: 'Preparing the file',
    queued: 'Queued',
    processing: 'Converting',
    completed: 'Done',
    failed: 'Failed',
    canceled: 'Canceled',
  };
  /** Badge words where the API's status code would puzzle a person. */
  const BADGE_LABEL = { incomplete: 'awaiting upload', downloading: 'preparing', creating: 'starting' };
  const OPTION_LABEL = {
    crf: 'Quality (CRF)',
    fps: 'Frames per second',
    video_bitrate: 'Video bitrate (kbit/s)',
    audio_bitrate: 'Audio bitrate (kbit/s)',
    sample_rate: 'Sample rate (Hz)',
    audio_channels: 'Audio channels',
    width: 'Width (px)',
    height: 'Height (px)',
    start: 'Start at (s)',
    duration: 'Duration (s)',
    time: 'Frame at (s)',
    quality: 'Quality',
  };
  const EXTENSION_KIND = {
    wav: 'audio', mp3: 'audio', flac: 'audio', ogg: 'audio', oga: 'audio', opus: 'audio', m4a: 'audio', aac: 'audio', wma: 'audio', aiff: 'audio',
    mp4: 'video', m4v: 'video', mov: 'video', mkv: 'video', webm: 'video', avi: 'video', wmv: 'video', mpg: 'video', mpeg: 'video', ts: 'video', '3gp': 'video',
    png: 'image', jpg: 'image', jpeg: 'image', gif: 'image', webp: 'image', bmp: 'image', tif: 'image', tiff: 'image',
  };
  const MEDIA_TYPE = /^[\w.+-]+\/[\w.+-]+$/;

  const $ = (selector, root = document) => root.querySelector(selector);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Builds an element; text always goes in as text (file names never become markup). */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  function formatBytes(n) {
    if (n === null || n === undefined) return '';
    if (n < 1024) return `${n} B`;
    const units = ['KB', 'MB', 'GB', 'TB'];
    let v = n / 1024;
    let u = 0;
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024;
      u++;
    }
    return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
  }

  function formatDuration(ms) {
    if (ms < 1000) return `${ms} ms`;
    const s = ms / 1000;
    if (s < 60) return `${s.toFixed(1)} s`;
    const m = Math.floor(s / 60);
    return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  function formatTime(iso) {
    const d = new Date(iso);
    const sameDay = d.toDateString() === new Date().toDateString();
    return sameDay ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }) : d.toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });
  }

  const humanize = (name) => OPTION_LABEL[name] || name.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());

  function kindOf(file) {
    const major = (file.type || '').split('/')[0];
    if (major === 'audio' || major === 'video' || major === 'image') return major;
    const ext = (file.name.split('.').pop() || '').toLowerCase();
    return EXTENSION_KIND[ext];
  }

  class ApiError extends Error {
    constructor(status, message, code, retryAfter) {
      super(message);
      this.status = status;
      this.code = code;
      this.retryAfter = retryAfter;
    }
  }

  /** JSON calls to this gateway. /web/* calls use the session cookie; a 401 there means the session ended. */
  async function api(path, { method = 'GET', json, headers = {} } = {}) {
    const h = new Headers(headers);
    if (method !== 'GET' && path.startsWith('/web/')) h.set('X-Kiln-Web', '1');
    let body;
    if (json !== undefined) {
      h.set('Content-Type', 'application/json');
      body = JSON.stringify(json);
    }
    const res = await fetch(path, { method, headers: h, body, credentials: 'same-origin', cache: 'no-store' });
    if (res.status === 401 && path.startsWith('/web/')) {
      location.replace('/');
      throw new ApiError(401, 'The session has ended.', 'unauthorized');
    }
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) {
      const e = (data && data.error) || {};
      throw new ApiError(res.status, e.message || `The server answered ${res.status}.`, e.code, res.headers.get('retry-after'));
    }
    return data;
  }

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

  // ---------------------------------------------------------------- formats, files, options

  const state = { catalog: [], byTarget: new Map(), picked: [], targetChosen: false, transfers: [] };

  async function loadFormats() {
    const select = $('#target');
    try {
      state.catalog = await api('/v1/formats');
    } catch (err) {
      select.textContent = '';
      select.append(el('option', { text: 'Formats could not be loaded' }));
      showFormError(err.message);
      return;
    }
    state.byTarget = new Map(state.catalog.map((t) => [t.target, t]));
    select.textContent = '';
    for (const category of ['video', 'audio', 'image']) {
      const targets = state.catalog.filter((t) => t.category === category);
      if (!targets.length) continue;
      select.append(el('optgroup', { label: category[0].toUpperCase() + category.slice(1) }, targets.map((t) => el('option', { value: t.target, text: targetLabel(t) }))));
    }
    select.disabled = false;
    select.value = state.byTarget.has('mp4') ? 'mp4' : state.catalog[0].target;
    renderOptions();
    updateStart();
  }

  /** "MP3 (LAME)" as it is; "MP4 · MPEG-4 (H.264 + AAC)" when the description does not start with the name. */
  function targetLabel(t) {
    const name = t.target.toUpperCase();
    return t.description.toUpperCase().startsWith(name) ? t.description : `${name} · ${t.description}`;
  }

  function addFiles(list) {
    for (const file of list) {
      if (!state.picked.some((f) => f.name === file.name && f.size === file.size && f.lastModified === file.lastModified)) state.picked.push(file);
    }
    const first = state.picked.map(kindOf).find(Boolean);
    if (first && !state.targetChosen && state.byTarget.has(DEFAULT_TARGET[first]) && $('#target').value !== DEFAULT_TARGET[first]) {
      $('#target').value = DEFAULT_TARGET[first];
      renderOptions();
    }
    renderPicked();
  }

  function renderPicked() {
    const list = $('#picked');
    list.textContent = '';
    state.picked.forEach((file, i) => {
      list.append(
        el('li', {},
          el('span', { text: file.name }),
          el('span', { class: 'kind', text: `${kindOf(file) || 'file'} · ${formatBytes(file.size)}` }),
          el('button', { type: 'button', title: `Remove ${file.name}`, 'aria-label': `Remove ${file.name}`, text: '×', onclick: () => { state.picked.splice(i, 1); renderPicked(); } }),
        ),
      );
    });
    markAccepted();
    renderTargetDesc();
    updateStart();
  }

  /** Targets that cannot take every picked file's kind are disabled (the server would refuse them). */
  function markAccepted() {
    const kinds = new Set(state.picked.map(kindOf).filter(Boolean));
    for (const option of $('#target').querySelectorAll('option[value]')) {
      const t = state.byTarget.get(option.value);
      option.disabled = !!t && [...kinds].some((k) => !t.accepts.includes(k));
    }
    const selected = $('#target').selectedOptions[0];
    if (selected && selected.disabled) {
      const takesAll = (t) => !!t && [...kinds].every((x) => t.accepts.includes(x));
      const preferred = state.byTarget.get(DEFAULT_TARGET[[...kinds][0]]);
      const fallback = takesAll(preferred) ? preferred : state.catalog.find(takesAll);
      if (fallback) {
        $('#target').value = fallback.target;
        renderOptions();
      }
    }
  }

  function renderTargetDesc() {
    const t = state.byTarget.get($('#target').value);
    $('#target-desc').classList.remove('error');
    $('#target-desc').textContent = t ? `.${t.extension} · accepts ${t.accepts.join(', ')}` : '';
  }

  function renderOptions() {
    const t = state.byTarget.get($('#target').value);
    const box = $('#option-fields');
    box.textContent = '';
    if (!t) return;
    renderTargetDesc();
    const entries = Object.entries(t.options);
    $('#options-count').textContent = entries.length ? `· ${entries.length} optional settings` : '· none for this format';
    for (const [name, spec] of entries) {
      const id = `opt-${name}`;
      let control;
      let hint;
      if (spec.type === 'enum') {
        control = el('select', { id, name }, el('option', { value: '', text: spec.default !== undefined ? `Default (${spec.default})` : 'Default' }), spec.values.map((v) => el('option', { value: String(v), text: String(v) })));
        hint = spec.description;
      } else {
        control = el('input', {
          id,
          name,
          type: 'number',
          min: spec.min,
          max: spec.max,
          step: spec.type === 'integer' ? 1 : 'any',
          inputmode: spec.type === 'integer' ? 'numeric' : 'decimal',
          placeholder: spec.default !== undefined ? String(spec.default) : 'auto',
        });
        hint = `${spec.description} ${spec.min}–${spec.max}${spec.default !== undefined ? `, default ${spec.default}` : ''}.`;
      }
      box.append(el('label', { for: id, title: spec.description }, el('span', { text: humanize(name) }), control, el('span', { class: 'hint', text: hint })));
    }
  }

  /** The options the user filled in, checked against the catalog's types and ranges. */
  function readOptions(t) {
    const options = {};
    const problems = [];
    for (const [name, spec] of Object.entries(t.options)) {
      const control = document.getElementById(`opt-${name}`);
      const raw = control ? control.value.trim() : '';
      if (raw === '') continue;
      if (spec.type === 'enum') {
        const v = spec.values.find((x) => String(x) === raw);
        if (v === undefined) problems.push(`${humanize(name)}: choose one of ${spec.values.join(', ')}`);
        else options[name] = v;
        continue;
      }
      const n = Number(raw);
      if (!Number.isFinite(n) || (spec.type === 'integer' && !Number.isInteger(n)) || n < spec.min || n > spec.max) {
        problems.push(`${humanize(name)}: ${spec.type === 'integer' ? 'a whole number' : 'a number'} from ${spec.min} to ${spec.max}`);
      } else {
        options[name] = n;
      }
    }
    return { options, problems };
  }

  function showFormError(message) {
    $('#form-error').textContent = message || '';
  }

  function updateStart() {
    const selected = $('#target').selectedOptions[0];
    const mixed = state.picked.length > 0 && !!selected && selected.disabled;
    $('#target-desc').classList.toggle('error', mixed);
    if (mixed) $('#target-desc').textContent = 'No format takes all these files at once: convert them separately.';
    $('#start').disabled = !state.picked.length || $('#target').disabled || mixed;
    $('#start').textContent = state.picked.length > 1 ? `Start ${state.picked.length} conversions` : 'Start conversion';
  }

  function startPicked() {
    const t = state.byTarget.get($('#target').value);
    if (!t) return;
    const { options, problems } = readOptions(t);
    if (problems.length) {
      $('#options-box').open = true;
      showFormError(problems.join('; '));
      return;
    }
    showFormError('');
    const files = state.picked.splice(0);
    renderPicked();
    for (const file of files) void new Transfer(file, t.target, options).run();
  }

  // ---------------------------------------------------------------- one file: job, upload, conversion

  class Transfer {
    constructor(file, target, options) {
      this.file = file;
      this.target = target;
      this.options = options;
      this.job = null;
      this.token = null;
      this.uploadId = null;
      this.chunkSize = CHUNK_TARGET;
      this.sent = 0; // bytes the server has
      this.inflight = new Map(); // chunk start → bytes of it sent so far
      this.passStartedAt = 0; // this upload pass (the first, or a resume): for the rate shown
      this.passStartBytes = 0;
      this.xhrs = new Set();
      this.phase = 'creating'; // creating → uploading → (paused) → converting → final
      this.status = null;
      this.progress = 0;
      this.message = '';
      this.canceled = false;
      this.events = new AbortController();
      this.render();
      state.transfers.unshift(this);
      $('#transfers').prepend(this.node);
      $('#transfers-card').hidden = false;
    }

    async run() {
      try {
        if (this.file.size === 0) throw new ApiError(400, 'The file is empty.', 'invalid_input');
        const job = await api('/web/jobs', {
          method: 'POST',
          json: { input: [{ type: 'upload', filename: this.file.name.slice(0, 255), size: this.file.size }], conversion: [{ target: this.target, options: this.options }] },
        });
        this.token = job.token;
        this.applyJob(job);
        void refreshRecent();
        void this.watch();
        const session = await api('/v1/uploads', {
          method: 'POST',
          headers: { 'X-Job-Token': this.token },
          json: { filename: this.file.name.slice(0, 255), size: this.file.size, job_id: job.id, ...(MEDIA_TYPE.test(this.file.type) ? { content_type: this.file.type } : {}) },
        });
        this.uploadId = session.id;
        this.chunkSize = Math.max(session.chunk_size_min, Math.min(session.chunk_size_max, CHUNK_TARGET));
        await this.sendMissing(session.received);
      } catch (err) {
        this.failUpload(err);
      }
    }

    /** Sends every chunk the server does not have yet, a few at once; each chunk is retried on network errors and 5xx. */
    async sendMissing(received) {
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
      this.phase = 'uploading';
      this.message = '';
      this.render();
      let next = 0;
      let failure = null;
      let complete = false;
      const worker = async () => {
        while (next < todo.length && !failure && !this.canceled) {
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
      if (this.canceled) return;
      if (failure) throw failure;
      if (!complete) {
        const now = await api(`/v1/uploads/${this.uploadId}`, { headers: { 'X-Job-Token': this.token } });
        if (now.status === 'failed') throw new ApiError(422, now.error || 'The upload failed.', 'unprocessable');
        if (now.status !== 'complete') return this.sendMissing(now.received);
      }
      this.sent = size;
      this.phase = 'converting';
      this.render();
    }

    async putWithRetry(start, end) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await withUploadSlot(() => this.put(start, end));
        } catch (err) {
          const retryable = err.code === 'network' || err.status === 408 || err.status === 429 || err.status >= 500;
          if (!retryable || attempt >= CHUNK_ATTEMPTS || this.canceled) throw err;
          const wait = err.retryAfter ? Number(err.retryAfter) * 1000 : Math.min(8000, 500 * 2 ** (attempt - 1));
          await sleep(wait + Math.random() * 250);
        }
      }
    }

    /** One chunk: PUT with Content-Range (XMLHttpRequest, for upload progress). */
    put(start, end) {
      return new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        const done = () => {
          this.xhrs.delete(xhr);
          this.inflight.delete(start);
        };
        this.xhrs.add(xhr);
        xhr.open('PUT', `/v1/uploads/${encodeURIComponent(this.uploadId)}`);
        xhr.setRequestHeader('X-Job-Token', this.token);
        xhr.setRequestHeader('Content-Range', `bytes ${start}-${end}/${this.file.size}`);
        xhr.setRequestHeader('Content-Type', 'application/octet-stream');
        xhr.upload.onprogress = (e) => {
          this.inflight.set(start, e.loaded);
          this.renderBars();
        };
        xhr.onload = () => {
          done();
          let body = null;
          try {
            body = JSON.parse(xhr.responseText);
          } catch {
            /* not JSON */
          }
          if (xhr.status >= 200 && xhr.status < 300) {
            this.sent += end - start + 1;
            this.renderBars();
            resolve(body);
          } else {
            const e = (body && body.error) || {};
            reject(new ApiError(xhr.status, e.message || `The server answered ${xhr.status}.`, e.code, xhr.getResponseHeader('Retry-After')));
          }
        };
        xhr.onerror = () => {
          done();
          reject(new ApiError(0, 'The connection was lost.', 'network'));
        };
        xhr.onabort = () => {
          done();
          reject(new ApiError(0, 'Canceled.', 'aborted'));
        };
        xhr.send(this.file.slice(start, end + 1));
      });
    }

    failUpload(err) {
      if (this.canceled) return;
      const resumable = this.uploadId && (err.code === 'network' || err.status === 408 || err.status === 429 || err.status >= 500);
      this.phase = resumable ? 'paused' : 'final';
      this.message = resumable ? `Upload interrupted: ${err.message}` : err.message;
      if (!resumable) this.status = this.status && FINAL.includes(this.status) ? this.status : 'failed';
      this.render();
    }

    /** Resume: ask the server which byte ranges it has, send the rest. */
    async resume() {
      try {
        const now = await api(`/v1/uploads/${this.uploadId}`, { headers: { 'X-Job-Token': this.token } });
        if (now.status === 'complete') {
          this.phase = 'converting';
          this.render();
          return;
        }
        await this.sendMissing(now.received);
      } catch (err) {
        this.failUpload(err);
      }
    }

    /** Live status and progress of the job: its events stream (fetch, since EventSource cannot send X-Job-Token). */
    async watch() {
      for (let attempt = 0; !this.isFinal() && !this.canceled; attempt++) {
        try {
          const res = await fetch(`/v1/jobs/${encodeURIComponent(this.job.id)}/events`, {
            headers: { 'X-Job-Token': this.token, Accept: 'text/event-stream' },
            cache: 'no-store',
            signal: this.events.signal,
          });
          if (!res.ok || !res.body) throw new ApiError(res.status, `The events stream answered ${res.status}.`);
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value.replace(/\r\n/g, '\n');
            let cut;
            while ((cut = buffer.indexOf('\n\n')) >= 0) {
              this.onEvent(buffer.slice(0, cut));
              buffer = buffer.slice(cut + 2);
            }
          }
        } catch {
          if (this.canceled) return;
        }
        if (this.isFinal()) return;
        // The stream ended early (network, gateway restart): read the job, then listen again.
        await sleep(Math.min(8000, 1000 * 2 ** Math.min(attempt, 3)));
        try {
          this.applyJob(await api(`/web/jobs/${encodeURIComponent(this.job.id)}`));
        } catch {
          /* tried again on the next round */
        }
      }
    }

    onEvent(block) {
      let event = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (!line || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') event = value;
        else if (field === 'data') data += (data ? '\n' : '') + value;
      }
      if (!data) return;
      const payload = JSON.parse(data);
      if (event === 'status') {
        this.status = payload.status;
        this.progress = payload.progress;
        this.render();
      } else if (event === 'job') {
        this.applyJob(payload);
      }
    }

    applyJob(job) {
      this.job = job;
      this.status = job.status.code;
      this.progress = job.progress;
      if (FINAL.includes(this.status)) {
        const wasFinal = this.phase === 'final';
        this.phase = 'final';
        if (this.status === 'failed') this.message = (job.errors[0] && job.errors[0].message) || job.status.info;
        this.events.abort();
        for (const xhr of this.xhrs) xhr.abort();
        if (!wasFinal) void refreshRecent();
      }
      this.render();
    }

    isFinal() {
      return this.phase === 'final' || FINAL.includes(this.status);
    }

    async cancel() {
      this.canceled = true;
      for (const xhr of this.xhrs) xhr.abort();
      this.events.abort();
      if (!this.job) return;
      try {
        this.applyJob(await api(`/web/jobs/${encodeURIComponent(this.job.id)}`, { method: 'DELETE' }));
      } catch (err) {
        this.message = err.message;
        this.render();
      }
    }

    uploadedBytes() {
      let inflight = 0;
      for (const n of this.inflight.values()) inflight += n;
      return Math.min(this.file.size, this.sent + inflight);
    }

    uploadPercent() {
      return Math.min(100, Math.floor((this.uploadedBytes() / (this.file.size || 1)) * 100));
    }

    /** Bytes per second since this upload pass started (shown once it has run a second). */
    uploadRate() {
      const seconds = (performance.now() - this.passStartedAt) / 1000;
      return seconds >= 1 ? (this.uploadedBytes() - this.passStartBytes) / seconds : 0;
    }

    stageText() {
      if (this.phase === 'creating') return 'Creating the job…';
      if (this.phase === 'uploading') {
        const rate = this.uploadRate();
        return `Uploading · ${formatBytes(this.uploadedBytes())} of ${formatBytes(this.file.size)}${rate > 0 ? ` · ${formatBytes(Math.round(rate))}/s` : ''}`;
      }
      if (this.phase === 'paused') return this.message;
      if (this.status === 'completed') return `Done · ${this.job.output.length} file${this.job.output.length === 1 ? '' : 's'} ready`;
      if (this.status === 'failed') return `Failed: ${this.message || 'see the job for details'}`;
      if (this.status === 'canceled') return 'Canceled';
      if (this.phase === 'final') return this.message;
      return `${STATUS_LABEL[this.status] || 'Waiting'}${this.status === 'processing' ? ` · ${this.progress}%` : ''}`;
    }

    render() {
      if (!this.node) {
        this.nameNode = el('span', { class: 'transfer-name', text: this.file.name });
        this.badgeNode = el('span', { class: 'badge' });
        this.stageNode = el('div', { class: 'transfer-stage' });
        this.uploadBar = el('div', { class: 'bar', role: 'progressbar', 'aria-label': 'Upload', 'aria-valuemin': 0, 'aria-valuemax': 100 }, el('span'));
        this.convertBar = el('div', { class: 'bar', role: 'progressbar', 'aria-label': 'Conversion', 'aria-valuemin': 0, 'aria-valuemax': 100 }, el('span'));
        this.uploadPct = el('span', { text: '0%' });
        this.convertPct = el('span', { text: '0%' });
        this.actions = el('div', { class: 'transfer-actions' });
        this.node = el(
          'li',
          { class: 'transfer' },
          el('div', { class: 'transfer-head' }, el('div', {}, this.nameNode, ' ', el('span', { class: 'muted small', text: `→ ${this.target.toUpperCase()} · ${formatBytes(this.file.size)}` })), this.badgeNode),
          this.stageNode,
          el('div', { class: 'bars' }, el('span', { text: 'Upload' }), this.uploadBar, this.uploadPct, el('span', { text: 'Conversion' }), this.convertBar, this.convertPct),
          this.actions,
        );
      }
      if (this.job) this.node.dataset.jobId = this.job.id;
      this.node.dataset.phase = this.phase;
      const badge = this.phase === 'paused' ? 'paused' : this.status || 'creating';
      this.badgeNode.className = `badge ${badge}`;
      this.badgeNode.textContent = this.phase === 'uploading' ? 'uploading' : BADGE_LABEL[badge] || badge;
      this.stageNode.textContent = this.stageText();
      this.renderBars();
      this.actions.textContent = '';
      if (this.status === 'completed') {
        for (const o of this.job.output) this.actions.append(downloadLink(this.job.id, o));
      }
      if (this.phase === 'paused') this.actions.append(el('button', { type: 'button', class: 'small', text: 'Resume upload', onclick: () => void this.resume() }));
      if (!this.isFinal() && !this.canceled && this.job) this.actions.append(el('button', { type: 'button', class: 'ghost small cancel', text: 'Cancel', onclick: () => void this.cancel() }));
    }

    renderBars() {
      if (!this.uploadBar) return;
      const up = this.phase === 'creating' ? 0 : this.phase === 'uploading' || this.phase === 'paused' ? this.uploadPercent() : this.sent >= this.file.size || this.status === 'completed' ? 100 : this.uploadPercent();
      setBar(this.uploadBar, this.uploadPct, up, up >= 100 ? 'done' : this.phase === 'final' && this.status !== 'completed' ? 'failed' : '');
      if (this.phase === 'uploading') this.stageNode.textContent = this.stageText();
      const conv = this.status === 'completed' ? 100 : this.progress || 0;
      setBar(this.convertBar, this.convertPct, conv, this.status === 'completed' ? 'done' : this.status === 'failed' ? 'failed' : '');
    }
  }

  function setBar(bar, label, pct, tone) {
    bar.className = `bar ${tone}`;
    bar.firstChild.style.width = `${pct}%`;
    bar.setAttribute('aria-valuenow', String(pct));
    label.textContent = `${pct}%`;
  }

  function downloadLink(jobId, output) {
    return el(
      'a',
      { class: 'button small download', href: `/web/jobs/${encodeURIComponent(jobId)}/output/${encodeURIComponent(output.id)}/download`, download: output.filename || true, title: `Download ${output.filename}` },
      `⤓ ${output.filename}`,
      el('span', { class: 'size', text: ` ${formatBytes(output.size)}` }),
    );
  }

  // ---------------------------------------------------------------- recent jobs

  let refreshing = null;
  let refreshAgain = false;
  let refreshTimer = 0;

  function refreshRecent() {
    if (refreshing) {
      refreshAgain = true;
      return refreshing;
    }
    refreshing = (async () => {
      try {
        const { items } = await api('/web/jobs?limit=15');
        renderRecent(items);
        clearTimeout(refreshTimer);
        if (items.some((j) => !FINAL.includes(j.status.code))) refreshTimer = setTimeout(() => void refreshRecent(), 3000);
      } catch {
        clearTimeout(refreshTimer);
        refreshTimer = setTimeout(() => void refreshRecent(), 10000);
      } finally {
        refreshing = null;
        if (refreshAgain) {
          refreshAgain = false;
          void refreshRecent();
        }
      }
    })();
    return refreshing;
  }

  function renderRecent(items) {
    const body = $('#recent tbody');
    body.textContent = '';
    $('#recent-empty').hidden = items.length > 0;
    $('#recent').hidden = items.length === 0;
    for (const job of items) {
      const code = job.status.code;
      const files = job.input.map((i) => i.filename || i.source || 'file');
      const error = code === 'failed' ? (job.errors[0] && job.errors[0].message) || job.status.info : '';
      body.append(
        el(
          'tr',
          { dataset: { jobId: job.id, status: code } },
          el('td', { class: 'created', title: job.created_at, text: formatTime(job.created_at) }),
          el('td', { class: 'file', title: files.join(', '), text: files.length ? files[0] + (files.length > 1 ? ` +${files.length - 1}` : '') : '—' }),
          el('td', { class: 'target' }, job.conversion.map((c) => el('span', { class: 'target-tag', text: c.target }))),
          el(
            'td',
            { class: 'status' },
            el('span', { class: `badge ${code}`, text: BADGE_LABEL[code] || code }),
            code === 'processing' ? ` ${job.progress}%` : '',
            code === 'completed' && job.spent_ms ? el('span', { class: 'muted small', text: ` in ${formatDuration(job.spent_ms)}` }) : null,
            error ? el('span', { class: 'error-text', text: error }) : null,
          ),
          el('td', {}, el('div', { class: 'outputs' }, job.output.map((o) => downloadLink(job.id, o)))),
          el('td', {}, FINAL.includes(code) ? null : el('button', { type: 'button', class: 'ghost small', text: 'Cancel', onclick: () => void cancelListed(job.id) })),
        ),
      );
    }
  }

  async function cancelListed(id) {
    const live = state.transfers.find((t) => t.job && t.job.id === id);
    try {
      if (live) await live.cancel();
      else await api(`/web/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' });
    } finally {
      void refreshRecent();
    }
  }

  // ---------------------------------------------------------------- session

  async function loadSession() {
    try {
      const s = await api('/web/session');
      $('#who').textContent = `Key ${s.key_fingerprint}… · signed in until ${formatTime(s.expires_at)}`;
    } catch {
      /* a 401 already went back to the login page */
    }
  }

  async function logout() {
    try {
      await api('/web/session', { method: 'DELETE' });
    } finally {
      location.replace('/?login=out');
    }
  }

  // ---------------------------------------------------------------- wiring

  function wire() {
    const drop = $('#drop');
    const input = $('#file-input');
    drop.addEventListener('click', () => input.click());
    drop.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        input.click();
      }
    });
    input.addEventListener('change', () => {
      addFiles(input.files);
      input.value = '';
    });
    drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      if (e.dataTransfer && e.dataTransfer.files.length) addFiles(e.dataTransfer.files);
    });
    // A file dropped next to the zone must not replace the page.
    window.addEventListener('dragover', (e) => e.preventDefault());
    window.addEventListener('drop', (e) => e.preventDefault());
    $('#target').addEventListener('change', () => {
      state.targetChosen = true;
      showFormError('');
      renderOptions();
      updateStart();
    });
    $('#start').addEventListener('click', startPicked);
    $('#refresh').addEventListener('click', () => void refreshRecent());
    $('#logout').addEventListener('click', () => void logout());
    window.addEventListener('beforeunload', (e) => {
      if (state.transfers.some((t) => t.phase === 'uploading')) e.preventDefault();
    });
  }

  wire();
  void loadSession();
  void loadFormats();
  void refreshRecent();
})();
