// The suite's results: one row per measured figure (Kiln against a baseline measured in the same
// run), written as bench/results/<date>.json (every raw sample) and <date>.md (the table).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { median } from './bench-kit';

export interface Series {
  /** What was measured, e.g. "Kiln upload session" or "bare ffmpeg". */
  label: string;
  /** Unit of the samples: "MB/s", "s", "ms", "MiB", "jobs/s". */
  unit: string;
  /** One sample per run (the run's own figure: a throughput, a p50, a peak). */
  samples: number[];
}

export interface Target {
  /** Which figure the target applies to: the ratio, or Kiln's own figure (e.g. a memory ceiling). */
  on: 'ratio' | 'kiln';
  op: '>=' | '<=' | '<' | '>';
  value: number;
}

export interface Row {
  /** Case name (the CLI selector): upload, memory, assembly, conversion, latency, scaling, queue. */
  case: string;
  /** Stable id, e.g. "upload.vs-direct". */
  id: string;
  title: string;
  kiln: Series;
  baseline: Series;
  /** What the ratio is: `kiln/baseline` per run (the runs are paired, in alternating order). */
  ratio: { samples: number[]; meaning: string };
  /** null: a figure reported for information, with no target of its own. */
  target: Target | null;
  notes: string[];
  /** Anything else measured alongside (per run), kept in the JSON. */
  extra?: Record<string, unknown>;
}

export interface CaseRecord {
  case: string;
  started_at: string;
  seconds: number;
  error?: string;
}

export interface Report {
  date: string;
  started_at: string;
  finished_at?: string;
  settings: Record<string, unknown>;
  machine: Record<string, unknown>;
  machine_end?: Record<string, unknown>;
  cases: CaseRecord[];
  rows: Row[];
}

export function digitsFor(unit: string, value: number): number {
  if (unit === 'ratio') return 2;
  if (Math.abs(value) >= 100) return 0;
  if (Math.abs(value) >= 10) return 1;
  return 2;
}

function fmt(value: number, unit: string): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toFixed(digitsFor(unit, value));
}

function seriesText(s: Series): string {
  if (s.samples.length === 0) return 'n/a';
  const m = median(s.samples);
  const lo = Math.min(...s.samples);
  const hi = Math.max(...s.samples);
  const range = s.samples.length > 1 ? ` (${fmt(lo, s.unit)}–${fmt(hi, s.unit)})` : '';
  return `${fmt(m, s.unit)} ${s.unit}${range}`;
}

export function verdict(row: Row): 'pass' | 'FAIL' | 'info' | 'n/a' {
  if (!row.target) return 'info';
  const values = row.target.on === 'ratio' ? row.ratio.samples : row.kiln.samples;
  if (values.length === 0) return 'n/a';
  const v = median(values);
  const t = row.target.value;
  const ok = { '>=': v >= t, '<=': v <= t, '<': v < t, '>': v > t }[row.target.op];
  return ok ? 'pass' : 'FAIL';
}

export function targetText(row: Row): string {
  if (!row.target) return '—';
  const unit = row.target.on === 'ratio' ? '' : ` ${row.kiln.unit}`;
  const what = row.target.on === 'ratio' ? 'ratio' : 'Kiln';
  return `${what} ${row.target.op.replace('>=', '≥').replace('<=', '≤')} ${row.target.value}${unit}`;
}

export function ratioText(row: Row): string {
  const r = row.ratio.samples;
  if (r.length === 0) return 'n/a';
  const range = r.length > 1 ? ` (${Math.min(...r).toFixed(2)}–${Math.max(...r).toFixed(2)})` : '';
  return `${median(r).toFixed(2)}${range}`;
}

export function markdown(report: Report): string {
  const lines: string[] = [];
  lines.push(`# Kiln benchmark ${report.date}`, '');
  const m = report.machine;
  lines.push(
    `Machine: ${String(m.cpus)} × ${String(m.cpu_model)}, ${String(m.total_memory_mib)} MiB, ${String(m.os)}, Node ${String(m.node)}. ` +
      `Load average at start ${JSON.stringify(m.load_average)}, at end ${JSON.stringify(report.machine_end?.load_average ?? null)}.`,
  );
  const dirty = Array.isArray(m.git_uncommitted) ? (m.git_uncommitted as string[]) : [];
  lines.push(
    `Code: commit ${String(m.git_commit)}${dirty.length ? ` plus uncommitted changes in ${dirty.length} tracked file(s) (listed in the JSON)` : ''}; ${String(m.ffmpeg)}; S3 server ${String(m.s3_server)}; Redis ${String(m.redis)}.`,
  );
  lines.push(
    `Settings: ${Object.entries(report.settings)
      .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join(', ')}.`,
  );
  lines.push(
    'Each figure is the median of the runs (min–max in brackets); every ratio pairs one Kiln run with one baseline run of the same round, in alternating order, so both share the noise of the moment.',
    '',
  );
  lines.push('| case | Kiln | baseline | ratio (median, spread) | target | result |', '|---|---|---|---|---|---|');
  for (const row of report.rows) {
    lines.push(
      `| ${row.title} | ${seriesText(row.kiln)} | ${row.baseline.label}: ${seriesText(row.baseline)} | ${ratioText(row)} ${row.ratio.meaning ? `(${row.ratio.meaning})` : ''} | ${targetText(row)} | ${verdict(row)} |`,
    );
  }
  const failed = report.cases.filter((c) => c.error);
  if (failed.length) {
    lines.push('', '## Cases that did not finish', '');
    for (const c of failed) lines.push(`- ${c.case}: ${c.error}`);
  }
  lines.push('', '## Notes', '');
  for (const row of report.rows) {
    if (!row.notes.length) continue;
    lines.push(`**${row.title}** (${row.kiln.label} vs ${row.baseline.label})`, '');
    for (const n of row.notes) lines.push(`- ${n}`);
    lines.push('');
  }
  lines.push('## Case wall times', '');
  for (const c of report.cases) lines.push(`- ${c.case}: ${c.seconds.toFixed(0)} s${c.error ? ' (failed)' : ''}`);
  lines.push('', `Raw samples: ${report.date}${suffixOf(report)}.json next to this file.`, '');
  return lines.join('\n');
}

function suffixOf(report: Report): string {
  return typeof report.settings.file_suffix === 'string' ? report.settings.file_suffix : '';
}

function stats(xs: number[]): { median: number; min: number; max: number } | null {
  return xs.length ? { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) } : null;
}

/** The report as written to JSON: each row with its medians, min/max spread and result next to the raw samples. */
function withSummaries(report: Report): unknown {
  return {
    ...report,
    rows: report.rows.map((row) => ({
      ...row,
      summary: {
        kiln: stats(row.kiln.samples),
        baseline: stats(row.baseline.samples),
        ratio: stats(row.ratio.samples),
        target: targetText(row),
        result: verdict(row),
      },
    })),
  };
}

/** Writes <dir>/<date><suffix>.json and .md; returns their paths. */
export async function writeReport(dir: string, report: Report): Promise<{ json: string; md: string }> {
  await mkdir(dir, { recursive: true });
  const base = path.join(dir, `${report.date}${suffixOf(report)}`);
  await writeFile(`${base}.json`, `${JSON.stringify(withSummaries(report), null, 2)}\n`);
  await writeFile(`${base}.md`, markdown(report));
  return { json: `${base}.json`, md: `${base}.md` };
}

/** The table as plain text for the terminal. */
export function consoleTable(rows: Row[]): string {
  const cells = rows.map((r) => [
    r.title,
    seriesText(r.kiln),
    `${r.baseline.label}: ${seriesText(r.baseline)}`,
    ratioText(r),
    targetText(r),
    verdict(r),
  ]);
  const head = ['case', 'Kiln', 'baseline', 'ratio', 'target', 'result'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(widths[i])).join(' | ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...cells.map(line)].join('\n');
}
