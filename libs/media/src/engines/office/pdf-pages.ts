/**
 * PDF pages to PNG or JPEG through `pdftoppm` (poppler): every page (up to a maximum) as
 * `<base>-<n>.<ext>`, or one asked-for page as `<base>.<ext>`. pdftoppm writes page after page, so
 * the output cap is watched while it runs (output-watch.ts) and progress follows the pages written.
 */
import { readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { MediaError } from '../../media-error';
import type { RunControl } from '../../run-control';
import { signalMeaning } from '../../tool-exit';
import type { OutputFile } from '../engine';
import { lastLinesOf } from './process-tree';
import { runTool } from './run-tool';

export const PDFTOPPM = 'pdftoppm';
/** The prefix pdftoppm writes under before the pages get their final names. */
const PREFIX = '.kiln-page';

export interface PageRequest {
  format: 'png' | 'jpg';
  dpi: number;
  /** JPEG quality 1-100. */
  quality: number;
  /** One page (1-based), or null for all pages up to maxPages. */
  page: number | null;
  pages: number;
  maxPages: number;
  outputDir: string;
  baseName: string;
  contentType: string;
  memoryLimitBytes?: number;
}

export async function renderPages(inputPath: string, req: PageRequest, control: RunControl): Promise<OutputFile[]> {
  if (req.page !== null && req.page > req.pages) {
    throw new MediaError(
      'unprocessable',
      `page ${req.page} is past the end of the PDF, which has ${req.pages} page${req.pages === 1 ? '' : 's'}`,
    );
  }
  const first = req.page ?? 1;
  const last = req.page ?? Math.min(req.pages, req.maxPages);
  const args = [
    req.format === 'png' ? '-png' : '-jpeg',
    ...(req.format === 'jpg' ? ['-jpegopt', `quality=${req.quality}`] : []),
    '-r',
    String(req.dpi),
    '-f',
    String(first),
    '-l',
    String(last),
    inputPath,
    join(req.outputDir, PREFIX),
  ];
  const run = await runTool(PDFTOPPM, args, control, { memoryLimitBytes: req.memoryLimitBytes });
  if (run.signal) {
    throw new MediaError('infrastructure', `pdftoppm ${signalMeaning(run.signal)}`, lastLinesOf(run.output), {
      fault: 'signal',
    });
  }
  if (run.code !== 0) {
    throw new MediaError('unprocessable', 'poppler could not render the PDF', lastLinesOf(run.output));
  }
  const ext = req.format;
  const written = (await readdir(req.outputDir))
    .map((name) => ({ name, n: new RegExp(`^${PREFIX}-(\\d+)\\.${ext}$`).exec(name) }))
    .filter((f): f is { name: string; n: RegExpExecArray } => f.n !== null)
    .map((f) => ({ name: f.name, page: Number(f.n[1]) }))
    .sort((a, b) => a.page - b.page);
  if (written.length !== last - first + 1) {
    throw new MediaError('unprocessable', `poppler rendered ${written.length} of ${last - first + 1} pages`);
  }
  const files: OutputFile[] = [];
  for (const w of written) {
    const name = req.page !== null ? `${req.baseName}.${ext}` : `${req.baseName}-${w.page}.${ext}`;
    const path = join(req.outputDir, name);
    await rename(join(req.outputDir, w.name), path);
    files.push({ path, name, contentType: req.contentType });
  }
  return files;
}
