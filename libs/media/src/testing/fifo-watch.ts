import { execFile } from 'node:child_process';
import { constants, promises as fs } from 'node:fs';
import { promisify } from 'node:util';

/**
 * Makes a FIFO at `path` and watches whether anything opens it for reading. Had ffprobe or ffmpeg
 * opened it they would block there (no writer), and while they wait a non-blocking open for writing
 * succeeds; with no reader it fails with ENXIO. The watcher polls that every few milliseconds until
 * `stop()`, which answers how many times a reader was there.
 */
export async function watchFifo(path: string): Promise<{ stop: () => Promise<number> }> {
  await promisify(execFile)('mkfifo', [path]);
  let opened = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        await (await fs.open(path, constants.O_WRONLY | constants.O_NONBLOCK)).close();
        opened++;
      } catch (err: unknown) {
        if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
      }
      await new Promise((r) => setTimeout(r, 5)); // the polling interval, not a wait for an event
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return opened;
    },
  };
}
