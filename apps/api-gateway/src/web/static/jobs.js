// Recent jobs: the key's last 15 jobs (GET /web/jobs) with status, outputs and a cancel button. The
// list is read again every 3 s while one of them is still running (every 10 s after a failed read).
import { api } from './api.js';
import { $, el } from './dom.js';
import { BADGE_LABEL, downloadLink, failureOf, formatDuration, formatTime, isFinalStatus } from './display.js';

let refreshing = null;
let refreshAgain = false;
let refreshTimer = 0;
let cancelJob = (id) => api(`/web/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' });

/** Wires the refresh button; cancel(id) cancels a listed job (the page cancels its own transfers itself). */
export function wireRecentJobs({ cancel }) {
  cancelJob = cancel;
  $('#refresh').addEventListener('click', () => void refreshRecent());
}

/** Reads the list again (once more after the current read, when one is under way). */
export function refreshRecent() {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      const { items } = await api('/web/jobs?limit=15');
      renderRecent(items);
      clearTimeout(refreshTimer);
      if (items.some((j) => !isFinalStatus(j.status.code))) refreshTimer = setTimeout(() => void refreshRecent(), 3000);
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
  for (const job of items) body.append(jobRow(job));
}

/** One row, with data-job-id and data-status. */
function jobRow(job) {
  const code = job.status.code;
  const files = job.input.map((i) => i.filename || i.source || 'file');
  const more = files.length > 1 ? ` +${files.length - 1}` : '';
  const error = code === 'failed' ? failureOf(job) : '';
  const cancel = async () => {
    try {
      await cancelJob(job.id);
    } finally {
      void refreshRecent();
    }
  };
  const cancelButton = el('button', { type: 'button', class: 'ghost small', onclick: () => void cancel() }, 'Cancel');
  return el(
    'tr',
    { dataset: { jobId: job.id, status: code } },
    el('td', { class: 'created', title: job.created_at, text: formatTime(job.created_at) }),
    el('td', { class: 'file', title: files.join(', '), text: files.length ? files[0] + more : '—' }),
    el(
      'td',
      { class: 'target' },
      job.conversion.map((c) => el('span', { class: 'target-tag', text: c.target })),
    ),
    el(
      'td',
      { class: 'status' },
      el('span', { class: `badge ${code}`, text: BADGE_LABEL[code] || code }),
      code === 'processing' ? ` ${job.progress}%` : '',
      code === 'completed' && job.spent_ms
        ? el('span', { class: 'muted small', text: ` in ${formatDuration(job.spent_ms)}` })
        : null,
      error ? el('span', { class: 'error-text', text: error }) : null,
    ),
    el(
      'td',
      {},
      el(
        'div',
        { class: 'outputs' },
        job.output.map((o) => downloadLink(job.id, o)),
      ),
    ),
    el('td', {}, isFinalStatus(code) ? null : cancelButton),
  );
}
