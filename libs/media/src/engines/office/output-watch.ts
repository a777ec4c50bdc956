/**
 * The output cap over all files of a conversion, watched while the tool writes: every interval the
 * sizes of the files in the output folder are added up, and past the cap the RunControl stops the
 * run (MediaError('payload_too_large')). Also checked once at the end.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunControl } from '../../run-control';

const INTERVAL_MS = 250;

/** Total bytes of the files directly in `dir`. */
export async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    total += await stat(join(dir, name)).then(
      (s) => (s.isFile() ? s.size : 0),
      () => 0,
    );
  }
  return total;
}

/** Starts watching; call the returned function to stop. */
export function watchOutput(dir: string, maxBytes: number | undefined, control: RunControl): () => void {
  if (maxBytes === undefined) return () => undefined;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    folderBytes(dir)
      .then((bytes) => {
        if (bytes > maxBytes) control.stop('payload_too_large');
      })
      .finally(() => {
        busy = false;
      });
  }, INTERVAL_MS);
  return () => clearInterval(timer);
}
