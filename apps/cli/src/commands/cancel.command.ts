import type { Invocation } from '../args';
import { printJson, type CommandContext } from './command-context';

export async function cancelCommand(ctx: CommandContext, inv: Invocation): Promise<number> {
  const job = await ctx.api.cancelJob(inv.positionals[0]);
  if (ctx.json) printJson(ctx, job);
  else if (job.status.code === 'canceled') ctx.io.stdout.write(`job ${job.id} canceled\n`);
  else ctx.io.stdout.write(`job ${job.id} had already ended: ${job.status.code}\n`);
  return 0;
}
