// Large test files generated on the spot (random bytes, streamed to disk) and read back by range.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { once } from 'node:events';
import pLimit from 'p-limit';

export async function makeRandomFile(path: string, size: number): Promise<string> {
  const out = createWriteStream(path);
  const hash = createHash('sha256');
  let left = size;
  while (left > 0) {
    const n = Math.min(left, 1 << 20);
    const buf = randomBytes(n);
    hash.update(buf);
    if (!out.write(buf)) await once(out, 'drain');
    left -= n;
  }
  out.end();
  await once(out, 'finish');
  return hash.digest('hex');
}

export async function readRange(path: string, start: number, end: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(end - start + 1);
    await fh.read(buf, 0, buf.length, start);
    return buf;
  } finally {
    await fh.close();
  }
}

export async function sha256OfStream(stream: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash('sha256');
  for await (const c of stream) hash.update(c as Buffer);
  return hash.digest('hex');
}

export const sha256File = (path: string) => sha256OfStream(createReadStream(path));

export function chunkRanges(size: number, chunk: number): { start: number; end: number }[] {
  const out = [];
  for (let s = 0; s < size; s += chunk) out.push({ start: s, end: Math.min(size, s + chunk) - 1 });
  return out;
}

export function shuffled<T>(items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Runs `work` over items with at most `n` in flight (p-limit). */
export async function inParallel<T>(
  items: T[],
  n: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  const limit = pLimit(n);
  await Promise.all(items.map((item, i) => limit(() => work(item, i))));
}
