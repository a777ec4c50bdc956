/**
 * One run of a short-lived tool (pdfinfo, pdftoppm, a soffice client) under a RunControl
 * (run-control.ts): a timeout, a cancel or the output cap stops its whole process group, SIGTERM
 * then SIGKILL, and the run rejects with the RunControl's MediaError.
 */
import { MediaError } from '../../media-error';
import { limitedCommand } from '../../memory-limit';
import type { RunControl } from '../../run-control';
import { spawnTree, type TreeProcess } from './process-tree';

export interface ToolRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Runs the tool to its end; rejects only when the control stopped it or it could not start. */
export async function runTool(
  command: string,
  args: readonly string[],
  control: RunControl,
  options: { memoryLimitBytes?: number; onStart?: (proc: TreeProcess) => void } = {},
): Promise<ToolRun> {
  if (control.reason) throw control.error(control.reason);
  const [cmd, full] = limitedCommand(command, args, options.memoryLimitBytes);
  const proc = spawnTree(cmd, full);
  options.onStart?.(proc);
  control.attach(() => {
    void proc.kill();
  });
  try {
    const { code, signal } = await proc.exited;
    if (control.reason) {
      await proc.kill();
      throw control.error(control.reason);
    }
    if (code === null && signal === null) {
      throw new MediaError('internal', `${command} could not start: ${proc.output().trim()}`);
    }
    return { code, signal, output: proc.output() };
  } finally {
    control.detach();
  }
}
