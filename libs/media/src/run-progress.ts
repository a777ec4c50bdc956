/** Progress of a run: ffmpeg's `-progress` output read line by line, reported as whole percents. */

/** Turns ffmpeg's `-progress` blocks (`out_time_us=…`) into whole, never-decreasing percents. */
export class ProgressReporter {
  private last = -1;

  constructor(
    private readonly passCount: number,
    private readonly durationS: number | null,
    private readonly onProgress?: (percent: number) => void,
  ) {}

  start(): void {
    this.emit(0);
  }

  /** `seconds` of output written by pass `index`. Below 100 until `finish`. */
  update(index: number, seconds: number): void {
    if (!this.durationS || this.durationS <= 0) return;
    const passShare = Math.min(1, Math.max(0, seconds / this.durationS));
    this.emit(Math.min(99, Math.floor(((index + passShare) / this.passCount) * 100)));
  }

  passDone(index: number): void {
    this.emit(Math.min(99, Math.floor(((index + 1) / this.passCount) * 100)));
  }

  finish(): void {
    this.emit(100);
  }

  private emit(percent: number): void {
    if (percent <= this.last) return;
    this.last = percent;
    this.onProgress?.(percent);
  }
}

export function parseProgress(index: number, progress: ProgressReporter): (chunk: Buffer | string) => void {
  let buffered = '';
  return (chunk) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      const eq = line.indexOf('=');
      if (eq < 0) continue;
      const key = line.slice(0, eq).trim();
      if (key !== 'out_time_us') continue;
      const us = Number(line.slice(eq + 1).trim());
      if (Number.isFinite(us) && us >= 0) progress.update(index, us / 1e6);
    }
  };
}
