// Jobs and uploads as the apps leave them, written straight to PostgreSQL and S3 for the retention
// and orphan-sweep tests: every row a job owns, every object under its prefixes, and an unfinished
// multipart upload of one of its upload sessions.
import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { PrismaClient } from '@kiln/database';
import { type ObjectStore, objectKeys } from '@kiln/storage';

export const OWNER = 'a'.repeat(64);
const HOUR_MS = 3600 * 1000;

export interface SeededJob {
  id: string;
  /** Every object key written for it (inputs, outputs, its uploads' files and chunks). */
  keys: string[];
  /** The unfinished multipart upload of its chunked upload session. */
  multipart: { key: string; uploadId: string };
  uploadIds: string[];
}

export interface JobShape {
  status?: string;
  /** Hours ago it ended (null: not ended). Default 48. */
  endedHoursAgo?: number | null;
  expiresAt?: Date | null;
  keepData?: boolean;
}

export async function putObject(store: ObjectStore, key: string, bytes = randomBytes(32)): Promise<void> {
  await store.put(key, Readable.from([bytes]), { size: bytes.length });
}

/**
 * A job as the apps leave it: one input file (a whole upload), one conversion and its output, a
 * callback delivery and its outbox row; a standalone upload attached as a second input (its file
 * under uploads/), and a chunked upload session with stored chunks and an unfinished multipart upload.
 */
export async function seedJob(prisma: PrismaClient, store: ObjectStore, shape: JobShape = {}): Promise<SeededJob> {
  const id = randomUUID();
  const status = shape.status ?? 'completed';
  const endedHoursAgo = shape.endedHoursAgo === undefined ? 48 : shape.endedHoursAgo;
  const finishedAt = endedHoursAgo === null ? null : new Date(Date.now() - endedHoursAgo * HOUR_MS);
  const [inputId, attachedInputId, conversionId, outputId] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  const [attachedUpload, sessionUpload] = [randomUUID(), randomUUID()];
  const inputKey = objectKeys.input(id, inputId, 'in.wav');
  const attachedKey = objectKeys.upload(attachedUpload, 'film.mov');
  const outputKey = objectKeys.output(id, outputId, 1, 'in.mp3');
  const chunkKey = objectKeys.chunk(sessionUpload, 0, 31);
  const multipartKey = objectKeys.upload(sessionUpload, 'big.bin');
  await prisma.job.create({
    data: {
      id,
      ownerKeyHash: OWNER,
      token: randomBytes(16).toString('hex'),
      status,
      startedAt: finishedAt ? new Date(finishedAt.getTime() - 60_000) : new Date(),
      finishedAt,
      expiresAt: shape.expiresAt ?? null,
      keepData: shape.keepData ?? false,
      inputs: {
        create: [
          { id: inputId, type: 'upload', source: 'upload', status: 'ready', objectKey: inputKey, size: 32n },
          { id: attachedInputId, type: 'upload', source: 'upload', status: 'ready', objectKey: attachedKey, size: 32n },
        ],
      },
      conversions: { create: [{ id: conversionId, target: 'mp3', category: 'audio' }] },
    },
  });
  await prisma.output.create({
    data: { id: outputId, jobId: id, conversionId, inputId, status: 'completed', objectKey: outputKey, size: 32n },
  });
  const deliveryId = randomUUID();
  await prisma.delivery.create({ data: { deliveryId, jobId: id, event: 'job.completed', state: 'delivered' } });
  await prisma.callbackDelivery.create({
    data: {
      id: randomUUID(),
      jobId: id,
      deliveryId,
      event: 'job.completed',
      url: 'http://127.0.0.1:9/cb',
      attempt: 1,
      durationMs: 3,
    },
  });
  const multipart = { key: multipartKey, uploadId: await store.createMultipart(multipartKey) };
  await prisma.upload.create({
    data: {
      id: attachedUpload,
      ownerKeyHash: OWNER,
      jobId: id,
      inputId: attachedInputId,
      filename: 'film.mov',
      size: 32n,
      receivedBytes: 32n,
      status: 'complete',
      objectKey: attachedKey,
      completedAt: new Date(),
    },
  });
  await prisma.upload.create({
    data: {
      id: sessionUpload,
      ownerKeyHash: OWNER,
      jobId: id,
      clientUploadId: 'session',
      filename: 'big.bin',
      size: 64n,
      receivedBytes: 32n,
      multipartId: multipart.uploadId,
      multipartKey,
      chunks: { create: [{ id: randomUUID(), start: 0n, end: 31n, objectKey: chunkKey }] },
    },
  });
  const keys = [inputKey, attachedKey, outputKey, chunkKey];
  for (const key of keys) await putObject(store, key);
  return { id, keys, multipart, uploadIds: [attachedUpload, sessionUpload] };
}

/** Rows that belong to these jobs, table by table. */
export async function rowsOf(prisma: PrismaClient, jobIds: string[]) {
  const where = { jobId: { in: jobIds } };
  const [jobs, inputs, conversions, outputs, uploads, chunks, deliveries, callbacks] = await Promise.all([
    prisma.job.count({ where: { id: { in: jobIds } } }),
    prisma.input.count({ where }),
    prisma.conversion.count({ where }),
    prisma.output.count({ where }),
    prisma.upload.count({ where }),
    prisma.uploadChunk.count({ where: { upload: where } }),
    prisma.delivery.count({ where }),
    prisma.callbackDelivery.count({ where }),
  ]);
  return { jobs, inputs, conversions, outputs, uploads, chunks, deliveries, callbacks };
}

/** The rows one seeded job has. */
export const ROWS_PER_JOB = {
  jobs: 1,
  inputs: 2,
  conversions: 1,
  outputs: 1,
  uploads: 2,
  chunks: 1,
  deliveries: 1,
  callbacks: 1,
};

/** Which of `keys` still exist in the bucket. */
export async function existing(store: ObjectStore, keys: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const key of keys) if (await store.stat(key)) found.push(key);
  return found;
}

/** Every key in the bucket. */
export async function allKeys(store: ObjectStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list('')) keys.push(o.key);
  return keys.sort();
}
