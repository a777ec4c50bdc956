/**
 * What a PDF is, from `pdfinfo` (poppler): its page count, or a refusal the user can act on (a
 * password-protected or damaged PDF).
 */
import { MediaError } from '../../media-error';
import { RunControl } from '../../run-control';
import { signalMeaning } from '../../tool-exit';
import { lastLinesOf } from './process-tree';
import { runTool } from './run-tool';

export const PDFINFO = 'pdfinfo';

/** The page count of the PDF at `path`. */
export async function pdfPageCount(path: string, timeoutMs: number, signal?: AbortSignal): Promise<number> {
  const control = new RunControl({ timeoutMs, signal, outputPath: path });
  try {
    const run = await runTool(PDFINFO, [path], control);
    if (run.signal) {
      throw new MediaError('infrastructure', `pdfinfo ${signalMeaning(run.signal)}`, lastLinesOf(run.output), {
        fault: 'signal',
      });
    }
    if (/Incorrect password/i.test(run.output)) throw new MediaError('unprocessable', 'the PDF is password-protected');
    const pages = /^Pages:\s+(\d+)/m.exec(run.output);
    if (run.code !== 0 || !pages) {
      throw new MediaError('unprocessable', 'the PDF is damaged: poppler could not read it', lastLinesOf(run.output));
    }
    const count = Number(pages[1]);
    if (count < 1) throw new MediaError('unprocessable', 'the PDF has no pages');
    return count;
  } finally {
    control.dispose();
  }
}
