import type { PrismaClient } from '@kiln/database';
import type { Logger } from '@kiln/observability';
import {
  KILN_KEY_PREFIXES,
  ObjectKeyError,
  mapLimit,
  parseObjectKey,
  type ObjectStore,
  type ParsedObjectKey,
} from '@kiln/storage';

export interface OrphanSweepSettings {
  /** KILN_ORPHAN_MIN_AGE_SECONDS: an object younger than this is never deleted. */
  minAgeSeconds: number;
  /** Old objects looked up in PostgreSQL at once (default 500): what the sweep holds in memory. */
  pageSize?: number;
  /** Deletions in flight at once (default 8). */
  concurrency?: number;
}

export interface SweepResult {
  /** Objects listed under Kiln's prefixes. */
  listed: number;
  /** Old objects no row names, deleted. */
  deleted: number;
  /** Old objects whose key is not of Kiln's layout: left alone. */
  foreign: number;
}

interface Candidate {
  key: string;
  parsed: ParsedObjectKey;
}

/**
 * Deletes objects under Kiln's prefixes that no row owns any more and that are older than the
 * minimum age: inputs and outputs of a job with no row, files and chunks of an upload with no row
 * (and whose file is no input's). They come from crashes between a write and its row, from a
 * deletion interrupted halfway, or from a writer that lost a race. Young objects are left alone:
 * every write creates its row first (a job before its files, an upload session before its chunks),
 * so the age only covers clocks and slow writers.
 *
 * The bucket is read as a stream of listing pages (S3 ListObjectsV2, 1,000 keys a request) and
 * checked a page of old objects at a time: memory stays bounded whatever the bucket holds. Safe on
 * several assemblers at once: removing a missing object is not an error.
 */
export class OrphanSweep {
  private readonly pageSize: number;
  private readonly concurrency: number;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly store: ObjectStore,
    private readonly log: Logger,
    private readonly settings: OrphanSweepSettings,
  ) {
    this.pageSize = settings.pageSize ?? 500;
    this.concurrency = settings.concurrency ?? 8;
  }

  async run(now = new Date()): Promise<SweepResult> {
    const result: SweepResult = { listed: 0, deleted: 0, foreign: 0 };
    const olderThan = now.getTime() - this.settings.minAgeSeconds * 1000;
    for (const prefix of KILN_KEY_PREFIXES) {
      let page: Candidate[] = [];
      for await (const object of this.store.list(prefix)) {
        result.listed++;
        // Without a time the age is unknown: kept.
        if (!object.lastModified || object.lastModified.getTime() >= olderThan) continue;
        try {
          page.push({ key: object.key, parsed: parseObjectKey(object.key) });
        } catch (err: unknown) {
          if (!(err instanceof ObjectKeyError)) throw err;
          result.foreign++;
          continue;
        }
        if (page.length >= this.pageSize) {
          result.deleted += await this.sweep(page);
          page = [];
        }
      }
      result.deleted += await this.sweep(page);
    }
    if (result.deleted || result.foreign) this.log.info({ ...result }, 'orphan objects swept');
    return result;
  }

  /** Deletes the candidates no row owns; returns how many. */
  private async sweep(page: Candidate[]): Promise<number> {
    if (!page.length) return 0;
    const jobIds = new Set<string>();
    const uploadIds = new Set<string>();
    for (const { parsed } of page) {
      if (parsed.kind === 'input' || parsed.kind === 'output') jobIds.add(parsed.jobId);
      else uploadIds.add(parsed.uploadId);
    }
    const [jobs, uploads] = await Promise.all([
      jobIds.size
        ? this.prisma.job.findMany({ where: { id: { in: [...jobIds] } }, select: { id: true } })
        : Promise.resolve([]),
      uploadIds.size
        ? this.prisma.upload.findMany({ where: { id: { in: [...uploadIds] } }, select: { id: true } })
        : Promise.resolve([]),
    ]);
    const owners = new Set([...jobs, ...uploads].map((r) => r.id));
    let orphans = page.filter(({ parsed }) => !owners.has(ownerOf(parsed)));
    // A standalone upload's file can be a job's input file: kept while an input names it.
    const uploadFiles = orphans.filter(({ parsed }) => parsed.kind === 'upload' || parsed.kind === 'assembled-upload');
    if (uploadFiles.length) {
      const named = await this.prisma.input.findMany({
        where: { objectKey: { in: uploadFiles.map((c) => c.key) } },
        select: { objectKey: true },
      });
      const inUse = new Set(named.map((i) => i.objectKey));
      orphans = orphans.filter((c) => !inUse.has(c.key));
    }
    await mapLimit(orphans, this.concurrency, (c) => this.store.remove(c.key));
    return orphans.length;
  }
}

function ownerOf(parsed: ParsedObjectKey): string {
  return parsed.kind === 'input' || parsed.kind === 'output' ? parsed.jobId : parsed.uploadId;
}
