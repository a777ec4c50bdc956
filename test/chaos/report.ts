// The chaos run's result: per fault, the jobs that were in flight during any of its injections
// (submitted before it healed, not ended before it began) and what became of them; written as a
// Markdown table and JSON under bench/results/<date>-chaos.{md,json}.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SubmittedJob } from './client';
import type { FaultName, Injection } from './faults';
import { type JobLedger, type Judgement, judge } from './ledger-audit';

export interface JobResult {
  job: SubmittedJob;
  ledger?: JobLedger;
  judgement?: Judgement;
  /** When the job ended (jobs.finished_at), ms; undefined while not ended. */
  finishedAt?: number;
}

export interface Row {
  fault: string;
  injections: number;
  jobs: number;
  completed: number;
  failedWithReason: number;
  failedWithoutReason: number;
  canceled: number;
  stuck: number;
  duplicatedOutputs: number;
  duplicateCallbacks: number;
  resentPosts: number;
}

export function row(fault: string, injections: number, results: JobResult[]): Row {
  const j = results.map((r) => r.judgement);
  const n = (f: (x: Judgement | undefined) => boolean) => j.filter(f).length;
  return {
    fault,
    injections,
    jobs: results.length,
    completed: n((x) => x?.verdict === 'completed'),
    failedWithReason: n((x) => x?.verdict === 'failed' && x.failedWithReason),
    failedWithoutReason: n((x) => x?.verdict === 'failed' && !x.failedWithReason),
    canceled: n((x) => x?.verdict === 'canceled'),
    stuck: n((x) => !x || x.verdict === 'stuck'),
    duplicatedOutputs: n((x) => !!x?.duplicatedOutputs),
    duplicateCallbacks: n((x) => !!x?.duplicateCallbacks),
    resentPosts: j.reduce((s, x) => s + (x?.resentPosts ?? 0), 0),
  };
}

/** The jobs in flight during an injection: submitted before it healed, not ended before it began. */
export function inFlight(results: JobResult[], i: Injection): JobResult[] {
  return results.filter((r) => r.job.submittedAt <= i.endedAt && (r.finishedAt ?? Infinity) >= i.startedAt);
}

export function rows(results: JobResult[], injections: Injection[], faults: FaultName[]): Row[] {
  const out = faults.map((f) => {
    const mine = injections.filter((i) => i.fault === f);
    const jobs = new Set<JobResult>();
    for (const i of mine) for (const r of inFlight(results, i)) jobs.add(r);
    return row(f, mine.length, [...jobs]);
  });
  out.push(row('all jobs', injections.length, results));
  return out;
}

const COLUMNS: [keyof Row, string][] = [
  ['fault', 'fault'],
  ['injections', 'injections'],
  ['jobs', 'jobs in flight'],
  ['completed', 'completed'],
  ['failedWithReason', 'failed (reason)'],
  ['failedWithoutReason', 'failed (no reason)'],
  ['canceled', 'canceled'],
  ['stuck', 'stuck'],
  ['duplicatedOutputs', 'duplicated outputs'],
  ['duplicateCallbacks', 'duplicate callbacks'],
  ['resentPosts', 're-sent POSTs'],
];

export function markdownTable(table: Row[]): string {
  const head = `| ${COLUMNS.map(([, t]) => t).join(' | ')} |`;
  const rule = `|${COLUMNS.map(([k]) => (k === 'fault' ? '---' : '---:')).join('|')}|`;
  return [head, rule, ...table.map((r) => `| ${COLUMNS.map(([k]) => String(r[k])).join(' | ')} |`)].join('\n');
}

export function consoleTable(table: Row[]): string {
  const cells = [COLUMNS.map(([, t]) => t), ...table.map((r) => COLUMNS.map(([k]) => String(r[k])))];
  const widths = COLUMNS.map((_, c) => Math.max(...cells.map((row) => row[c].length)));
  return cells
    .map((row) => row.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  '))
    .join('\n');
}

export interface ChaosReport {
  startedAt: string;
  durationS: number;
  commit: string;
  settings: Record<string, string | number>;
  table: Row[];
  injections: Injection[];
  repairs: Record<string, number>;
  settled: string;
  /** Every job with something wrong, and why. */
  problems: { id: string; kind: string; status: string; problems: string[]; gaveUp?: string }[];
  jobs: {
    id: string;
    kind: string;
    chunked: boolean;
    status: string;
    unitAttempts: number[];
    /** The job's errors (code: message), for a failed job its reason. */
    errors: string[];
    retries: Record<string, number>;
  }[];
}

/** Writes bench/results/<date>-chaos.{md,json}; returns the Markdown path. */
export async function writeReport(root: string, report: ChaosReport, notes: string[]): Promise<string> {
  const dir = path.join(root, 'bench/results');
  await mkdir(dir, { recursive: true });
  const base = path.join(dir, `${report.startedAt.slice(0, 10)}-chaos`);
  await writeFile(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  const md = [
    `# Chaos run ${report.startedAt}`,
    '',
    `Commit ${report.commit}; ${report.durationS} s; settings: ${Object.entries(report.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}.`,
    '',
    "A job counts in a fault's row when it was in flight (submitted, not ended) during any injection of that fault;",
    'one job can count in several rows. Stuck: not completed, failed or canceled once nothing moved any more.',
    "Duplicated outputs: more objects under the job's outputs/ prefix than completed units (bucket listing).",
    'Duplicate callbacks: more than one delivery (outbox row, event or X-Kiln-Delivery id) or more than one 2xx',
    'attempt; re-sent POSTs: the same delivery id received again (at-least-once resends a receiver deduplicates).',
    '',
    markdownTable(report.table),
    '',
    `Settled: ${report.settled}. Reconciler repairs (kiln_reconciler_repairs_total): ${JSON.stringify(report.repairs)}.`,
    '',
    '## Injections',
    '',
    ...report.injections.map(
      (i) => `- ${i.fault} #${i.round} (${((i.endedAt - i.startedAt) / 1000).toFixed(1)} s): ${i.detail}`,
    ),
    '',
    '## Why jobs failed',
    '',
    ...failureReasons(report),
    '',
    '## Jobs with a problem',
    '',
    ...(report.problems.length
      ? report.problems.map(
          (p) =>
            `- ${p.id} (${p.kind}, ${p.status}): ${p.problems.join('; ')}${p.gaveUp ? `; client: ${p.gaveUp}` : ''}`,
        )
      : ['none']),
    '',
    ...(notes.length ? ['## Notes', '', ...notes.map((n) => `- ${n}`), ''] : []),
  ].join('\n');
  await writeFile(`${base}.md`, md);
  return `${base}.md`;
}

/** The failed jobs' reasons, ids and numbers blanked out, most frequent first. */
function failureReasons(report: ChaosReport): string[] {
  const counts = new Map<string, number>();
  for (const j of report.jobs.filter((x) => x.status === 'failed'))
    for (const e of j.errors.length ? j.errors : ['(no error recorded)']) {
      const reason = e
        .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>')
        .replace(/\d+/g, 'N')
        .slice(0, 300);
      counts.set(reason, (counts.get(reason) ?? 0) + 1);
    }
  const lines = [...counts].sort((a, b) => b[1] - a[1]).map(([reason, n]) => `- ${n} × ${reason}`);
  return lines.length ? lines : ['none failed'];
}

export { judge };
