// Progress on stderr: a redrawn bar on a terminal, a few plain lines otherwise, or nothing.
import { progressStep, RateMeter, renderJobLine, renderUploadLine } from './render';

export type ProgressMode = 'tty' | 'plain' | 'off';

/** Bars only on a terminal; without one, occasional lines, none at all with --json. */
export function progressMode(stderrIsTTY: boolean, json: boolean): ProgressMode {
  if (stderrIsTTY) return 'tty';
  return json ? 'off' : 'plain';
}

export interface ProgressStream {
  write(text: string): unknown;
  columns?: number;
}

const REDRAW_MS = 100;

export class ProgressDisplay {
  private line = '';
  private lastDraw = 0;
  private upload = { sent: 0, total: 0, step: -1, file: { index: 1, count: 1 } };
  private meter = new RateMeter();
  private job = { status: '', step: -1 };

  constructor(
    private readonly stream: ProgressStream,
    readonly mode: ProgressMode,
  ) {}

  private get columns(): number {
    return this.stream.columns && this.stream.columns > 20 ? this.stream.columns : 80;
  }

  private draw(text: string, force = false): void {
    if (this.mode !== 'tty') return;
    const now = performance.now();
    if (!force && now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    this.line = text;
    this.stream.write(`\r\x1b[2K${text}`);
  }

  private clear(): void {
    if (this.mode === 'tty' && this.line) {
      this.stream.write('\r\x1b[2K');
      this.line = '';
    }
  }

  /** A message line (kept above the bar on a terminal). */
  note(text: string): void {
    if (this.mode === 'off') return;
    const line = this.line;
    this.clear();
    this.stream.write(`${text}\n`);
    if (line) this.draw(line, true);
  }

  startUpload(total: number, alreadyStored: number, file = { index: 1, count: 1 }): void {
    this.upload = { sent: alreadyStored, total, step: -1, file };
    this.meter = new RateMeter();
    if (alreadyStored > 0)
      this.note(
        `resuming upload${file.count > 1 ? ` ${file.index}/${file.count}` : ''}: ${Math.floor((alreadyStored / Math.max(1, total)) * 100)}% already on the server`,
      );
    this.uploadBytes(0, true);
  }

  uploadBytes(n: number, force = false): void {
    this.upload.sent += n;
    if (n > 0) this.meter.add(n);
    const figures = {
      sent: this.upload.sent,
      total: this.upload.total,
      rate: this.meter.rate(),
      file: this.upload.file,
    };
    if (this.mode === 'tty') this.draw(renderUploadLine(figures, this.columns), force);
    else if (this.mode === 'plain') {
      const step = progressStep(this.upload.total ? this.upload.sent / this.upload.total : 1);
      if (step > this.upload.step) {
        this.upload.step = step;
        this.stream.write(`${renderUploadLine(figures, 0)}\n`);
      }
    }
  }

  endUpload(): void {
    if (this.mode === 'tty') {
      this.draw(
        renderUploadLine(
          { sent: this.upload.sent, total: this.upload.total, rate: this.meter.rate(), file: this.upload.file },
          this.columns,
        ),
        true,
      );
      this.stream.write('\n');
      this.line = '';
    }
  }

  jobStatus(status: string, progress: number): void {
    if (this.mode === 'tty') this.draw(renderJobLine(status, progress, this.columns), status !== this.job.status);
    else if (this.mode === 'plain') {
      const step = progressStep(progress / 100);
      if (status !== this.job.status || step > this.job.step)
        this.stream.write(`${renderJobLine(status, progress, 0)}\n`);
      this.job.step = status !== this.job.status ? step : Math.max(step, this.job.step);
    }
    this.job.status = status;
  }

  /** Ends the current bar line. */
  finish(): void {
    if (this.mode === 'tty' && this.line) {
      this.stream.write('\n');
      this.line = '';
    }
  }
}
