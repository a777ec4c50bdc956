// Progress lines as text: pure functions of numbers, so they are tested without a terminal.
import { formatBytes, formatDuration } from '../byte-size';

export function renderBar(fraction: number, width: number): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const inner = Math.max(1, width - 2);
  const full = Math.floor(f * inner);
  const head = full < inner && f > 0 ? '>' : '';
  return `[${'='.repeat(full)}${head}${' '.repeat(inner - full - head.length)}]`;
}

const percentText = (fraction: number) =>
  `${String(Math.floor(Math.max(0, Math.min(1, fraction)) * 100)).padStart(3)}%`;

export interface UploadFigures {
  sent: number;
  total: number;
  /** Bytes per second; undefined until there is a measure. */
  rate?: number;
  /** Which file of how many, when there are several. */
  file?: { index: number; count: number };
}

/** "upload [=====>    ]  42%  10.0 MiB / 24.0 MiB  8.1 MiB/s  ETA 2s" (the bar shrinks to fit `columns`). */
export function renderUploadLine(f: UploadFigures, columns = 80): string {
  const fraction = f.total > 0 ? f.sent / f.total : 1;
  const label = f.file && f.file.count > 1 ? `upload ${f.file.index}/${f.file.count}` : 'upload';
  const eta = f.rate && f.rate > 0 && f.sent < f.total ? `  ETA ${formatDuration((f.total - f.sent) / f.rate)}` : '';
  const tail = `${percentText(fraction)}  ${formatBytes(f.sent)} / ${formatBytes(f.total)}${f.rate !== undefined ? `  ${formatBytes(f.rate)}/s` : ''}${eta}`;
  return fit(label, fraction, tail, columns);
}

/** "convert [=====>    ]  42%  processing". */
export function renderJobLine(status: string, progress: number, columns = 80): string {
  return fit('convert', progress / 100, `${percentText(progress / 100)}  ${status}`, columns);
}

/** The bar keeps one width for a given terminal (so lines do not jump), and the line never wraps. */
function fit(label: string, fraction: number, tail: string, columns: number): string {
  const width = Math.max(10, Math.min(30, columns - 66));
  const line = columns >= 40 ? `${label.padEnd(10)} ${renderBar(fraction, width)} ${tail}` : `${label} ${tail}`;
  return columns > 0 && line.length > columns - 1 ? line.slice(0, columns - 1) : line;
}

/** A plain (non-terminal) line is printed each time progress enters a new step (default quarters). */
export function progressStep(fraction: number, steps = 4): number {
  return Math.floor(Math.max(0, Math.min(1, fraction)) * steps);
}

/** Bytes per second over a sliding window of recent samples. */
export class RateMeter {
  private samples: { t: number; total: number }[] = [];
  private total = 0;

  constructor(
    private readonly windowMs = 5000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  add(bytes: number): void {
    this.total += bytes;
    const t = this.now();
    this.samples.push({ t, total: this.total });
    while (this.samples.length > 2 && this.samples[1].t < t - this.windowMs) this.samples.shift();
  }

  /** undefined until at least 200 ms have been measured. */
  rate(): number | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last) return undefined;
    const span = Math.max(last.t, this.now()) - first.t;
    if (span < 200) return undefined;
    return Math.max(0, ((last.total - first.total) / span) * 1000);
  }
}
