import path from 'node:path';
import { stringValue, type Invocation } from '../args';
import { downloadOutputs, type SavedOutput } from '../output/download-outputs';
import { printJson, type CommandContext } from './command-context';

export function printSaved(ctx: CommandContext, jobId: string, saved: SavedOutput[], status = 'completed'): void {
  if (ctx.json) printJson(ctx, { job_id: jobId, status, outputs: saved });
  else for (const s of saved) ctx.io.stdout.write(`${s.path}\n`);
}

export async function downloadCommand(ctx: CommandContext, inv: Invocation): Promise<number> {
  const id = inv.positionals[0];
  const outputs = await ctx.api.outputs(id);
  if (!outputs.length) {
    const job = await ctx.api.getJob(id);
    throw new Error(
      `job ${id} is ${job.status.code} and has no output to download${job.errors.length ? `: ${job.errors.map((e) => e.message).join('; ')}` : ''}`,
    );
  }
  const saved = await downloadOutputs(outputs, path.resolve(ctx.io.cwd, stringValue(inv.values, 'out') ?? '.'), {
    retry: ctx.retry,
    signal: ctx.io.signal,
    onRetry: (what, err, attempt, delay) => ctx.progress.note(retryNote(what, err, attempt, delay, ctx.retry.attempts)),
  });
  printSaved(ctx, id, saved);
  return 0;
}

export function retryNote(what: string, err: unknown, attempt: number, delayMs: number, attempts: number): string {
  return `retrying ${what} in ${(delayMs / 1000).toFixed(1)} s (try ${attempt + 1} of ${attempts}): ${err instanceof Error ? err.message : String(err)}`;
}
