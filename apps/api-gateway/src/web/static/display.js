// How the page words things: sizes, durations, times, job statuses, and the download link of an output.
import { el } from './dom.js';

/** Statuses after which a job does not change any more. */
export const FINAL = ['completed', 'failed', 'canceled'];
export const isFinalStatus = (code) => FINAL.includes(code);

/** What a transfer's stage line says while the job is in a status. */
export const STATUS_LABEL = {
  incomplete: 'Waiting for the upload',
  downloading: 'Preparing the file',
  queued: 'Queued',
  processing: 'Converting',
  completed: 'Done',
  failed: 'Failed',
  canceled: 'Canceled',
};

/** Badge words where the API's status code would puzzle a person. */
export const BADGE_LABEL = { incomplete: 'awaiting upload', downloading: 'preparing', creating: 'starting' };

export function formatBytes(n) {
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

export function formatDuration(ms) {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** The time of day for today, the short date and time otherwise. */
export function formatTime(iso) {
  const d = new Date(iso);
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
    : d.toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });
}

/** The first error of a failed job, in words. */
export const failureOf = (job) => job.errors[0]?.message || job.status.info;

/** A link that downloads one output of a job (the gateway answers with a fresh storage URL). */
export function downloadLink(jobId, output) {
  return el(
    'a',
    {
      class: 'button small download',
      href: `/web/jobs/${encodeURIComponent(jobId)}/output/${encodeURIComponent(output.id)}/download`,
      download: output.filename || true,
      title: `Download ${output.filename}`,
    },
    `⤓ ${output.filename}`,
    el('span', { class: 'size', text: ` ${formatBytes(output.size)}` }),
  );
}
