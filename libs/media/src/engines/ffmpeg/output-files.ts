/**
 * The files an ffmpeg conversion left in its output folder: their total size (the output cap counts
 * every file of an HLS output), the HLS file list read from the playlists ffmpeg wrote (line by
 * line, never a whole file in memory), and the removal of everything after a failure.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, rm } from 'node:fs/promises';
import { isAbsolute, join, normalize, posix } from 'node:path';
import { createInterface } from 'node:readline';
import { MediaError } from '../../media-error';
import type { OutputFile } from '../engine';

export const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
export const SEGMENT_TYPE = 'video/mp2t';

/** Bytes of every regular file under `dir`. */
export async function treeSize(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await treeSize(path);
    else if (entry.isFile()) total += (await lstat(path).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/** Removes everything in `dir` (the engine's own output folder), leaving the folder. */
export async function emptyDir(dir: string): Promise<void> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(entries.map((name) => rm(join(dir, name), { recursive: true, force: true })));
}

/**
 * The master playlist first, then per rendition its media playlist and its segments, in playlist
 * order, each named by its URI relative to the master (`360p/index.m3u8`, `360p/segment_000.ts`).
 */
export async function hlsFiles(dir: string, masterName: string, masterType: string): Promise<OutputFile[]> {
  const files: OutputFile[] = [{ path: join(dir, masterName), name: masterName, contentType: masterType }];
  for (const playlist of await uris(join(dir, masterName))) {
    const name = inside(playlist);
    files.push({ path: join(dir, name), name, contentType: PLAYLIST_TYPE });
    const base = posix.dirname(name);
    for (const segment of await uris(join(dir, name))) {
      const segmentName = inside(posix.join(base, segment));
      files.push({ path: join(dir, segmentName), name: segmentName, contentType: contentTypeOf(segmentName) });
    }
  }
  for (const f of files) {
    const s = await lstat(f.path).catch(() => null);
    if (!s?.isFile()) throw new MediaError('internal', `hls: the playlists name ${f.name}, which ffmpeg did not write`);
  }
  return files;
}

function contentTypeOf(name: string): string {
  return name.endsWith('.m3u8') ? PLAYLIST_TYPE : SEGMENT_TYPE;
}

/** A URI of a playlist as a relative path that stays inside the output folder. */
function inside(uri: string): string {
  const name = posix.normalize(uri);
  if (isAbsolute(name) || name.startsWith('../') || name === '..' || /^[a-z][a-z0-9+.-]*:/i.test(name)) {
    throw new MediaError('internal', `hls: playlist entry ${JSON.stringify(uri)} is not a file of the output`);
  }
  return normalize(name).split('\\').join('/');
}

/** The URI lines of a playlist (every line that is neither empty nor a tag or comment). */
async function uris(path: string): Promise<string[]> {
  const lines = createInterface({
    input: createReadStream(path, { encoding: 'utf8' }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  const out: string[] = [];
  for await (const line of lines) {
    const l = line.trim();
    if (l && !l.startsWith('#')) out.push(l);
  }
  return out;
}
