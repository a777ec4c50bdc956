// Kiln jobs as a client drives them (create, upload the whole file, wait for the callback), and
// where a job's time went: BullMQ's own timestamps of its convert, finalize and callback units
// (added, started, finished) lined up with the client's upload start and the callback's arrival.
import http from 'node:http';
import { stat } from 'node:fs/promises';
import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import {
  type Answer,
  type Arrival,
  type BenchStack,
  type CallbackReceiver,
  expectStatus,
  median,
  send,
  sendFile,
  sendJson,
} from './bench-kit';

export async function createJob(
  stack: BenchStack,
  target: string,
  callback: string,
  agent?: http.Agent,
): Promise<{ id: string; token: string }> {
  const r = expectStatus(
    await sendJson(
      `${stack.gatewayUrl}/v1/jobs`,
      'POST',
      stack.auth,
      { process: true, input: [{ type: 'upload' }], conversion: [{ target }], callback },
      agent,
    ),
    [201],
    'POST /v1/jobs',
  );
  return JSON.parse(r.text) as { id: string; token: string };
}

/** The whole file as a raw body (X-File-Name), streamed from disk, or from memory for a small one. */
export async function uploadWhole(
  stack: BenchStack,
  jobId: string,
  file: string | { name: string; bytes: Buffer },
  contentType: string,
  agent?: http.Agent,
): Promise<Answer> {
  const url = `${stack.gatewayUrl}/v1/jobs/${jobId}/upload`;
  if (typeof file === 'string') {
    const size = (await stat(file)).size;
    const name = file.split('/').pop()!;
    return expectStatus(
      await sendFile(
        url,
        'POST',
        { ...stack.auth, 'X-File-Name': encodeURIComponent(name), 'Content-Type': contentType },
        file,
        0,
        size - 1,
        agent,
      ),
      [201],
      'upload',
    );
  }
  return expectStatus(
    await send(
      url,
      'POST',
      { ...stack.auth, 'X-File-Name': encodeURIComponent(file.name), 'Content-Type': contentType },
      file.bytes,
      agent,
    ),
    [201],
    'upload',
  );
}

/** One job's clocks (epoch ms), client side; the queue side is read afterwards by `stagesOf`. */
export interface JobClock {
  jobId: string;
  uploadStart: number;
  uploadDone: number;
  arrival: Arrival;
}

/** Creates nothing: uploads into an existing job and waits for its callback. */
export async function uploadAndWait(
  stack: BenchStack,
  receiver: CallbackReceiver,
  jobId: string,
  file: string | { name: string; bytes: Buffer },
  contentType: string,
  agent?: http.Agent,
): Promise<JobClock> {
  const uploadStart = Date.now();
  const t0 = performance.now();
  const waiting = receiver.waitFor(jobId);
  await uploadWhole(stack, jobId, file, contentType, agent);
  const uploadDone = uploadStart + (performance.now() - t0);
  const arrival = await waiting;
  if (arrival.json?.status?.code !== 'completed')
    throw new Error(
      `job ${jobId} ended ${JSON.stringify(arrival.json?.status)}: ${JSON.stringify(arrival.json?.errors)}`,
    );
  return { jobId, uploadStart, uploadDone, arrival };
}

/** Milliseconds from the upload start to each point of the job's path, per job. */
export interface Timeline {
  upload_answered: number;
  convert_queued: number;
  convert_started: number;
  convert_finished: number;
  finalize_started: number;
  finalize_finished: number;
  callback_started: number;
  callback_arrived: number;
}

const POINTS: (keyof Timeline)[] = [
  'upload_answered',
  'convert_queued',
  'convert_started',
  'convert_finished',
  'finalize_started',
  'finalize_finished',
  'callback_started',
  'callback_arrived',
];

/** Reads the BullMQ units of each job (kept after completion) and lines their clocks up. */
export async function timelines(stack: BenchStack, clocks: JobClock[]): Promise<Timeline[]> {
  const connection = new Redis(stack.env.REDIS_URL, { maxRetriesPerRequest: null });
  const queues = Object.fromEntries(
    ['convert', 'convert-vips', 'convert-office', 'finalize', 'callback'].map((q) => [
      q,
      new Queue(q, { connection, prefix: stack.prefix }),
    ]),
  ) as Record<string, Queue>;
  const out: Timeline[] = [];
  try {
    for (const c of clocks) {
      const outputId = c.arrival.json?.output?.[0]?.id as string | undefined;
      const deliveryId = c.arrival.headers['x-kiln-delivery'] as string | undefined;
      if (!outputId || !deliveryId) continue;
      // The unit waited on its engine's queue (ffmpeg: convert, libvips: convert-vips, LibreOffice: convert-office).
      const convertUnit = async () =>
        (await Job.fromId(queues.convert, `convert.${outputId}`)) ??
        (await Job.fromId(queues['convert-vips'], `convert-vips.${outputId}`)) ??
        (await Job.fromId(queues['convert-office'], `convert-office.${outputId}`));
      const [convert, finalize, callback] = await Promise.all([
        convertUnit(),
        Job.fromId(queues.finalize, `finalize.${c.jobId}`),
        Job.fromId(queues.callback, `callback.${deliveryId}`),
      ]);
      if (!convert || !finalize || !callback) continue;
      const at = (t: number | undefined) => (t ?? NaN) - c.uploadStart;
      out.push({
        upload_answered: c.uploadDone - c.uploadStart,
        convert_queued: at(convert.timestamp),
        convert_started: at(convert.processedOn),
        convert_finished: at(convert.finishedOn),
        finalize_started: at(finalize.processedOn),
        finalize_finished: at(finalize.finishedOn),
        callback_started: at(callback.processedOn),
        callback_arrived: c.arrival.epochMs - c.uploadStart,
      });
    }
  } finally {
    await Promise.all(Object.values(queues).map((q) => q.close()));
    connection.disconnect();
  }
  return out;
}

/** Median offset of each point and the median step between consecutive points (ms). */
export function summarizeTimelines(lines: Timeline[]): {
  points: Record<string, number>;
  steps: Record<string, number>;
  jobs: number;
} {
  const points: Record<string, number> = {};
  for (const p of POINTS) points[p] = round(median(lines.map((l) => l[p])));
  const step = (from: keyof Timeline | 'upload_start', to: keyof Timeline) =>
    round(median(lines.map((l) => l[to] - (from === 'upload_start' ? 0 : l[from]))));
  const steps = {
    'upload start → convert queued (gateway: store file, record, queue the flow)': step(
      'upload_start',
      'convert_queued',
    ),
    'convert queued → started (queue wait)': step('convert_queued', 'convert_started'),
    'convert handler (download, probe, ffmpeg, store output, record)': step('convert_started', 'convert_finished'),
    'convert finished → finalize started (flow hand-off)': step('convert_finished', 'finalize_started'),
    'finalize handler (final status, queue callback)': step('finalize_started', 'finalize_finished'),
    'finalize finished → callback started': step('finalize_finished', 'callback_started'),
    'callback started → arrived at the receiver': step('callback_started', 'callback_arrived'),
  };
  return { points, steps, jobs: lines.length };
}

const round = (x: number) => Math.round(x * 10) / 10;
