// Payload files of the suite: random bytes written to scratch space, and their chunk ranges.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { MiB, TMP_DIR } from './run-environment';

/** A file of `size` random bytes, written as a stream (never whole in memory); reused when present. */
export async function randomFile(name: string, size: number): Promise<string> {
  await mkdir(TMP_DIR, { recursive: true });
  const file = path.join(TMP_DIR, name);
  const existing = await stat(file).catch(() => null);
  if (existing?.size === size) return file;
  const out = createWriteStream(file);
  let left = size;
  while (left > 0) {
    const n = Math.min(left, MiB);
    if (!out.write(randomBytes(n))) await once(out, 'drain');
    left -= n;
  }
  out.end();
  await once(out, 'finish');
  return file;
}

/** [start, end] (inclusive) of each chunk of a file. */
export function chunkRanges(size: number, chunk: number): { start: number; end: number }[] {
  const out = [];
  for (let s = 0; s < size; s += chunk) out.push({ start: s, end: Math.min(size, s + chunk) - 1 });
  return out;
}
