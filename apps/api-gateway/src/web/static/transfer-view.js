// How one transfer looks: a list item (data-job-id, data-phase) with the file's name and target, a
// status badge, a stage line, an upload bar and a conversion bar, and its buttons and download links.
import { el, setBar } from './dom.js';
import { BADGE_LABEL, STATUS_LABEL, downloadLink, formatBytes } from './display.js';

export class TransferView {
  constructor(file, target) {
    const range = { role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100 };
    const bar = (label) => el('div', { class: 'bar', ...range, 'aria-label': label }, el('span'));
    this.badge = el('span', { class: 'badge' });
    this.stage = el('div', { class: 'transfer-stage' });
    this.uploadBar = bar('Upload');
    this.convertBar = bar('Conversion');
    this.uploadPct = el('span', { text: '0%' });
    this.convertPct = el('span', { text: '0%' });
    this.actions = el('div', { class: 'transfer-actions' });
    const name = el('span', { class: 'transfer-name', text: file.name });
    const about = `→ ${target.toUpperCase()} · ${formatBytes(file.size)}`;
    const title = el('div', {}, name, ' ', el('span', { class: 'muted small', text: about }));
    this.node = el(
      'li',
      { class: 'transfer' },
      el('div', { class: 'transfer-head' }, title, this.badge),
      this.stage,
      el(
        'div',
        { class: 'bars' },
        [el('span', { text: 'Upload' }), this.uploadBar, this.uploadPct],
        [el('span', { text: 'Conversion' }), this.convertBar, this.convertPct],
      ),
      this.actions,
    );
  }

  /** Everything: phase, badge, stage line, bars, and the buttons that fit (resume, cancel) or the downloads. */
  show(t) {
    if (t.job) this.node.dataset.jobId = t.job.id;
    this.node.dataset.phase = t.phase;
    const badge = t.phase === 'paused' ? 'paused' : t.status || 'creating';
    this.badge.className = `badge ${badge}`;
    this.badge.textContent = t.phase === 'uploading' ? 'uploading' : BADGE_LABEL[badge] || badge;
    this.stage.textContent = stageText(t);
    this.showProgress(t);
    this.actions.textContent = '';
    if (t.status === 'completed') for (const o of t.job.output) this.actions.append(downloadLink(t.job.id, o));
    const button = (className, text, onclick) => el('button', { type: 'button', class: className, text, onclick });
    if (t.phase === 'paused') this.actions.append(button('small', 'Resume upload', () => void t.resume()));
    if (t.job && !t.isFinal() && !t.canceled) {
      this.actions.append(button('ghost small cancel', 'Cancel', () => void t.cancel()));
    }
  }

  /** The bars (and the stage line while uploading): called for every bit of upload progress. */
  showProgress(t) {
    const sending = t.phase === 'uploading' || t.phase === 'paused';
    const allSent = (t.upload && t.upload.sent >= t.file.size) || t.status === 'completed';
    const up = t.phase === 'creating' ? 0 : !sending && allSent ? 100 : uploadPercent(t);
    const upFailed = t.phase === 'final' && t.status !== 'completed';
    setBar(this.uploadBar, this.uploadPct, up, up >= 100 ? 'done' : upFailed ? 'failed' : '');
    if (t.phase === 'uploading') this.stage.textContent = stageText(t);
    const conv = t.status === 'completed' ? 100 : t.progress || 0;
    const tone = t.status === 'completed' ? 'done' : t.status === 'failed' ? 'failed' : '';
    setBar(this.convertBar, this.convertPct, conv, tone);
  }
}

function uploadPercent(t) {
  const loaded = t.upload ? t.upload.loaded : 0;
  return Math.min(100, Math.floor((loaded / (t.file.size || 1)) * 100));
}

function stageText(t) {
  if (t.phase === 'creating') return 'Creating the job…';
  if (t.phase === 'uploading') {
    const rate = t.upload.rate();
    const speed = rate > 0 ? ` · ${formatBytes(Math.round(rate))}/s` : '';
    return `Uploading · ${formatBytes(t.upload.loaded)} of ${formatBytes(t.file.size)}${speed}`;
  }
  if (t.phase === 'paused') return t.message;
  const outputs = t.job ? t.job.output.length : 0;
  if (t.status === 'completed') return `Done · ${outputs} file${outputs === 1 ? '' : 's'} ready`;
  if (t.status === 'failed') return `Failed: ${t.message || 'see the job for details'}`;
  if (t.status === 'canceled') return 'Canceled';
  if (t.phase === 'final') return t.message;
  return `${STATUS_LABEL[t.status] || 'Waiting'}${t.status === 'processing' ? ` · ${t.progress}%` : ''}`;
}
