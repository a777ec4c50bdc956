// A job's live status: its events stream (Server-Sent Events read with fetch, since EventSource cannot
// send X-Job-Token). When the stream ends early (network, gateway restart), the job is read once with a
// plain GET and the stream is opened again, waiting a little longer each time (up to 8 s).
import { api, ApiError, sleep } from './api.js';

/** One event block ("event: status\ndata: {…}") as { event, data }; data lines are joined, comments skipped. */
export function parseEvent(block) {
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
  return { event, data };
}

/** Reads a text/event-stream body to its end, calling onEvent for each event that carries data. */
export async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, '\n');
    for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
      const parsed = parseEvent(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
      if (parsed.data) onEvent(parsed);
    }
  }
}

/**
 * Follows a job until isOver() or the signal aborts: onStatus({ status, progress }) for each status
 * event, onJob(job) for each whole job (from the stream, or read between two streams).
 */
export async function followJob(jobId, token, { onStatus, onJob, isOver, signal }) {
  const id = encodeURIComponent(jobId);
  for (let attempt = 0; !isOver(); attempt++) {
    try {
      const res = await fetch(`/v1/jobs/${id}/events`, {
        headers: { 'X-Job-Token': token, Accept: 'text/event-stream' },
        cache: 'no-store',
        signal,
      });
      if (!res.ok || !res.body) throw new ApiError(res.status, `The events stream answered ${res.status}.`);
      await readEvents(res.body, ({ event, data }) => {
        if (event === 'status') onStatus(JSON.parse(data));
        else if (event === 'job') onJob(JSON.parse(data));
      });
    } catch {
      if (signal.aborted) return;
    }
    if (isOver()) return;
    await sleep(Math.min(8000, 1000 * 2 ** Math.min(attempt, 3)));
    try {
      onJob(await api(`/web/jobs/${id}`));
    } catch {
      /* tried again on the next round */
    }
  }
}
