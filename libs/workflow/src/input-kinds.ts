/**
 * Each input's kind, told from its first bytes (contracts input-kind.ts) when it is ready, and the
 * engine each unit of work goes to (contracts catalog.ts `engineFor`). The kind is read once, from
 * a ranged GET of the stored object's head, and kept on the input row (`kind`, `format`); a file no
 * engine reads keeps `kind` null with format `unknown`, and goes to ffmpeg, whose probe refuses it.
 */
import {
  detectInputKind,
  engineFor,
  findTarget,
  KIND_HEAD_BYTES,
  type EngineName,
  type InputKind,
} from '@kiln/contracts';
import type { PrismaClient } from '@kiln/database';
import type { ObjectStore } from '@kiln/storage';

/** Reads up to `limit` bytes of a stream (the stream is destroyed after). */
async function headOf(stream: NodeJS.ReadableStream & { destroy?: () => void }, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      parts.push(chunk);
      size += chunk.length;
      if (size >= limit) break;
    }
  } finally {
    stream.destroy?.();
  }
  return Buffer.concat(parts).subarray(0, limit);
}

/** The detected kind and format of a stored object (`format: 'unknown'` when none Kiln converts). */
export async function readStoredKind(
  store: ObjectStore,
  key: string,
  filename: string | null,
): Promise<{ kind: InputKind | null; format: string }> {
  const head = await headOf(await store.getRange(key, 0, KIND_HEAD_BYTES - 1), KIND_HEAD_BYTES);
  const detected = detectInputKind(head, filename);
  return detected ?? { kind: null, format: 'unknown' };
}

/** A ready input whose kind was never read (detectStoredKinds reads it). */
export const kindUnread = (input: {
  status: string;
  format: string | null;
  objectKey: string | null;
  size: bigint | null;
}): boolean => input.status === 'ready' && input.format === null && input.objectKey !== null && input.size !== 0n;

/** Reads the kind of every ready input of the job that has none yet. A storage error leaves it unread (ffmpeg's then). */
export async function detectStoredKinds(prisma: PrismaClient, store: ObjectStore, jobId: string): Promise<void> {
  const unread = await prisma.input.findMany({
    where: { jobId, status: 'ready', format: null, objectKey: { not: null } },
    select: { id: true, objectKey: true, filename: true, size: true },
  });
  for (const input of unread) {
    if (input.size === 0n) continue;
    const found = await readStoredKind(store, input.objectKey!, input.filename).catch(() => null);
    if (found) await prisma.input.update({ where: { id: input.id }, data: found });
  }
}

/**
 * The engine of one unit. An impossible pair (a spreadsheet → mp3) still gets an engine, the
 * target's first: its converter refuses the unit as `unsupported_media_type` with a message that
 * names what the target takes, so the job ends the way every failed unit ends.
 */
export function unitEngine(target: string, input: { kind: string | null; format: string | null }): EngineName {
  const spec = findTarget(target);
  if (!spec) return 'ffmpeg';
  const engine = engineFor(spec, input.kind as InputKind | null, input.format);
  return engine ?? Object.values(spec.engines)[0] ?? 'ffmpeg';
}
