// The Kiln web page: pick or drop files, choose a target and its options (from GET /v1/formats),
// upload each file (straight to storage in parts, retried and resumable), follow the conversion live and
// download the outputs. This module wires the others together:
//   api.js        calls to the gateway (X-Kiln-Web header, error mapping); the key never enters the page
//   formats.js    the target list and its options form
//   picker.js     the drop zone, the picked files and the start button
//   transfers.js  one file's way: its job, its upload, its live conversion
//   transfer-view.js  how a transfer looks: badge, stage line, bars, buttons, download links
//   direct-upload.js  the upload itself: Uppy (uppy.js, bundled) sends the file straight to storage
//                 through Kiln's direct upload sessions; upload.js (chunks through the gateway) when the
//                 server offers no direct uploads
//   events.js     the job's events stream, with a plain read of the job when it breaks
//   jobs.js       the recent-jobs list
//   display.js, dom.js  words, numbers and elements
import { api } from './api.js';
import { $ } from './dom.js';
import { formatTime } from './display.js';
import { loadFormats } from './formats.js';
import { refreshRecent, wireRecentJobs } from './jobs.js';
import { updateStart, wirePicker } from './picker.js';
import { Transfer, transfers } from './transfers.js';
import { DirectUpload } from './direct-upload.js';

/** How this page uploads a file into its job. */
const newUpload = (file, job, events) => new DirectUpload(file, job, events);

/** Cancels a job: through its transfer when this page started it, with a plain DELETE otherwise. */
function cancelJob(id) {
  const live = transfers.find((t) => t.job && t.job.id === id);
  return live ? live.cancel() : api(`/web/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

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

wirePicker((file, target, options) => void new Transfer(file, target, options, newUpload).run());
wireRecentJobs({ cancel: cancelJob });
$('#logout').addEventListener('click', () => void logout());
window.addEventListener('beforeunload', (e) => {
  if (transfers.some((t) => t.phase === 'uploading')) e.preventDefault();
});
void loadSession();
void loadFormats(updateStart);
void refreshRecent();
