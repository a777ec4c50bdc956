/**
 * One libvips operation under Kiln's run control (run-control.ts): the deadline, the abort signal
 * and the output size cap. libvips cannot be interrupted once sharp has handed it the work, so a
 * stop rejects at once and the output is removed at once — and removed again when the work
 * settles, since libvips may still create or finish the file afterwards. The work is tracked until
 * then (`drain`), so shutdown can wait for it and nothing is written behind a caller's back.
 */
import { rm, stat } from 'node:fs/promises';
import type { RunControl } from '../../run-control';

export interface ControlledRun {
  control: RunControl;
  /** The file the operation writes: watched against the cap, removed on a stop. */
  outputPath: string;
  maxOutputBytes?: number;
  /** How often the output's size is checked while libvips writes. */
  sizeCheckIntervalMs: number;
}

/** Operations still running in libvips, including those whose caller was already answered. */
export class VipsWork {
  private readonly running = new Set<Promise<void>>();

  /** Resolves with the work's value, or rejects with the work's error or the stop's MediaError. */
  run<T>(work: Promise<T>, run: ControlledRun): Promise<T> {
    const { control, outputPath, maxOutputBytes } = run;
    let stopped = false;
    const settledWork = work.then(
      () => undefined,
      () => undefined,
    );
    const tracked = settledWork.then(async () => {
      // A stop answered early: whatever libvips wrote since is removed now that it is done.
      if (stopped) await rm(outputPath, { force: true });
    });
    this.running.add(tracked);
    void tracked.finally(() => this.running.delete(tracked));

    return new Promise<T>((resolve, reject) => {
      let done = false;
      const finish = () => {
        done = true;
        if (sizeTimer) clearInterval(sizeTimer);
        control.detach();
      };
      const sizeTimer =
        maxOutputBytes !== undefined
          ? setInterval(() => {
              stat(outputPath).then(
                (s) => {
                  if (!done && s.size > maxOutputBytes) control.stop('payload_too_large');
                },
                () => undefined, // not created yet
              );
            }, run.sizeCheckIntervalMs)
          : null;
      control.attach((reason) => {
        if (done) return;
        stopped = true;
        finish();
        reject(control.error(reason));
        void rm(outputPath, { force: true });
      });
      work.then(
        (value) => {
          if (done) return;
          finish();
          resolve(value);
        },
        (err: unknown) => {
          if (done) return;
          finish();
          reject(err);
        },
      );
    });
  }

  /** Waits until libvips has finished every operation started here (and its late output is gone). */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }
}
