// The tus concatenation extension (https://tus.io/protocols/resumable-upload#concatenation):
// Upload-Concat parsed, the partial uploads a final names checked and taken, a final's HEAD.
import { Inject, Injectable } from '@nestjs/common';
import { KilnError } from '@kiln/contracts';
import { PRISMA, type PrismaClient, type Upload } from '@kiln/database';
import { OBJECT_STORE, type ObjectStore } from '@kiln/storage';
import {
  ChunkStore,
  TUS_CONCAT_FINAL,
  TUS_CONCAT_PARTIAL,
  concatPartials,
  finalReady,
  removeConcatPartials,
} from '@kiln/uploads';
import { UUID } from './tus-creation-spec';
import { expiresHeader } from './tus-protocol';

export type UploadConcat = { kind: 'partial' } | { kind: 'final'; ids: string[] };

/** The most partial uploads one final may name. */
export const CONCAT_PARTS_MAX = 1000;

const invalid = (message: string, detail = message) =>
  new KilnError('invalid_input', `Upload-Concat: ${message}.`, [{ field: 'Upload-Concat', message: detail }]);

/**
 * `Upload-Concat: partial` or `final;<url> <url> …`; each url absolute or a path, ending in
 * /v1/tus/<id>. Undefined when the header is absent.
 */
export function parseUploadConcat(header: string | undefined): UploadConcat | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (value === 'partial') return { kind: 'partial' };
  const final = /^final;(.*)$/s.exec(value);
  if (!final) throw invalid('must be "partial" or "final;<url> <url> …"', 'partial or final;<urls>');
  const urls = final[1].trim().split(/\s+/).filter(Boolean);
  if (!urls.length) throw invalid('a final upload names at least one partial upload', 'no partial upload');
  if (urls.length > CONCAT_PARTS_MAX) throw invalid(`at most ${CONCAT_PARTS_MAX} partial uploads`);
  const ids = urls.map((url) => {
    let path = url;
    try {
      path = new URL(url, 'http://kiln.invalid').pathname;
    } catch {
      throw invalid(`"${url}" is not a tus upload url`, `not an upload url: ${url}`);
    }
    const m = /\/v1\/tus\/([^/]+)\/?$/.exec(path);
    if (!m || !UUID.test(m[1]))
      throw invalid(`"${url}" is not a tus upload url (/v1/tus/<id>)`, `not an upload url: ${url}`);
    return m[1].toLowerCase();
  });
  if (new Set(ids).size !== ids.length) throw invalid('a partial upload is named twice', 'partial named twice');
  return { kind: 'final', ids };
}

/** The final and partial uploads behind the tus endpoint. */
@Injectable()
export class TusConcat {
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    private readonly chunks: ChunkStore,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
  ) {}

  /** A terminated final's partial uploads, removed with it (objects, multipart uploads, chunks, rows). */
  async discardPartials(final: Upload): Promise<void> {
    await removeConcatPartials(this.prisma, this.store, final);
  }

  /**
   * The partial uploads a final creation names, checked before anything is stored: each one the
   * caller's (else 404; another job's token: 403), a partial (else 400), with a known length
   * (else 400), not taken by another final (else 409), not expired (410).
   */
  async partialsFor(
    ids: string[],
    load: (id: string) => Promise<Upload>,
  ): Promise<{ partials: Upload[]; size: number }> {
    const partials: Upload[] = [];
    for (const id of ids) {
      const p = await load(id).catch((err: unknown) => {
        if (err instanceof KilnError && err.code === 'not_found')
          throw new KilnError('not_found', `Upload-Concat: no such upload ${id}.`, [
            { field: 'Upload-Concat', message: `no such upload: ${id}` },
          ]);
        throw err;
      });
      if (p.tusConcat !== TUS_CONCAT_PARTIAL)
        throw invalid(
          `upload ${id} is not a partial upload (create it with Upload-Concat: partial)`,
          `not partial: ${id}`,
        );
      if (p.lengthDeferred) throw invalid(`partial upload ${id} has no length yet`, `no length: ${id}`);
      if (p.status === 'failed') throw invalid(`partial upload ${id} failed: ${p.error ?? 'unknown'}`, `failed: ${id}`);
      if (p.concatFinalId) throw takenError(id);
      partials.push(p);
    }
    return { partials, size: partials.reduce((n, p) => n + Number(p.size), 0) };
  }

  /**
   * Inside the final's creating transaction: takes its partials for it (409 when another final took
   * one). They expire with the final from now on: an assembled partial is not removed as an
   * unclaimed upload while its final waits for the others, and goes when an unfinished final does.
   */
  async take(tx: Pick<PrismaClient, 'upload'>, final: { id: string; expiresAt: Date }, ids: string[]): Promise<void> {
    const taken = await tx.upload.updateMany({
      where: { id: { in: ids }, tusConcat: TUS_CONCAT_PARTIAL, concatFinalId: null },
      data: { concatFinalId: final.id, expiresAt: final.expiresAt },
    });
    if (taken.count !== ids.length) {
      const other = await tx.upload.findFirst({ where: { id: { in: ids }, concatFinalId: { not: null } } });
      throw takenError(other?.id ?? ids[0]);
    }
  }

  /** After a final is created: when its partials are all assembled already, its assembly is queued now. */
  async queueIfReady(finalId: string): Promise<void> {
    const ready = await finalReady(this.prisma, finalId);
    if (ready) await this.chunks.queueAssembly(ready);
  }

  /**
   * HEAD on a final: Upload-Concat with its partials; Upload-Offset (= Upload-Length) once every
   * partial has all its bytes, none before (the spec allows leaving it out while incomplete).
   */
  async head(final: Upload, origin: string): Promise<Record<string, string>> {
    const partials = await concatPartials(this.prisma, final);
    const complete =
      final.status !== 'uploading' ||
      (partials.length === final.concatParts.length && partials.every((p) => p.status === 'complete'));
    return {
      'Cache-Control': 'no-store',
      'Upload-Concat': `final;${final.concatParts.map((id) => `${origin}/v1/tus/${id}`).join(' ')}`,
      'Upload-Length': String(final.size),
      ...(complete ? { 'Upload-Offset': String(final.size) } : {}),
      ...(final.tusMetadata ? { 'Upload-Metadata': final.tusMetadata } : {}),
      ...expiresHeader(final),
      ...(final.jobId ? { 'Kiln-Job-Id': final.jobId } : {}),
    };
  }
}

function takenError(id: string): KilnError {
  return new KilnError('conflict', `Upload-Concat: partial upload ${id} belongs to another final upload already.`, [
    { field: 'Upload-Concat', message: `taken: ${id}` },
  ]);
}

export { TUS_CONCAT_FINAL, TUS_CONCAT_PARTIAL };
