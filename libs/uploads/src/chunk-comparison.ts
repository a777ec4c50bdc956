/**
 * Whether bytes sent again equal the bytes stored for their range: by SHA-256 when both have one,
 * else by MD5 ETag, else by reading the stored object back.
 */
import { createHash } from 'node:crypto';
import type { UploadChunk } from '@kiln/database';
import type { ObjectStore } from '@kiln/storage';
import { MD5_ETAG } from './chunk-bytes';

/** Whether re-sent bytes (their hashes) equal a stored chunk. */
export async function matchesStoredChunk(
  store: ObjectStore,
  stored: UploadChunk,
  seen: { sha256: string; md5: string },
): Promise<boolean> {
  if (stored.sha256) return stored.sha256 === seen.sha256;
  if (stored.etag && MD5_ETAG.test(stored.etag)) return stored.etag === seen.md5;
  if (!stored.objectKey) return false; // a part always has its MD5 ETag; no other way to read it back
  return (await sha256Of(store, stored.objectKey)) === seen.sha256;
}

/** Whether two stored objects for one range hold the same bytes (two concurrent identical sends). */
export async function sameStoredBytes(
  store: ObjectStore,
  a: Pick<UploadChunk, 'sha256' | 'etag' | 'objectKey'>,
  b: { sha256?: string; etag?: string; objectKey: string },
): Promise<boolean> {
  if (a.sha256 && b.sha256) return a.sha256 === b.sha256;
  if (a.etag && b.etag && MD5_ETAG.test(a.etag) && MD5_ETAG.test(b.etag)) return a.etag === b.etag;
  if (!a.objectKey) return false;
  return (await sha256Of(store, a.objectKey)) === (await sha256Of(store, b.objectKey));
}

async function sha256Of(store: ObjectStore, key: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const c of await store.get(key)) hash.update(c as Buffer);
  return hash.digest('hex');
}
