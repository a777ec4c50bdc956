import { intValue, stringValue, type Invocation } from '../args';
import type { ListJobsQuery } from '@kiln/client';
import type { JobView } from '../api/types';
import { renderTable, shortTime } from '../output/table';
import { printJson, type CommandContext } from './command-context';

export function jobRow(j: JobView): string[] {
  const files = j.input.map((i) => i.filename ?? i.source ?? i.id);
  return [
    j.id,
    j.status.code,
    `${j.progress}%`,
    j.conversion.map((c) => c.target).join(',') || '-',
    files.length > 2 ? `${files.slice(0, 2).join(', ')} +${files.length - 2}` : files.join(', ') || '-',
    shortTime(j.created_at),
    j.tag ?? '',
  ];
}

export async function jobsCommand(ctx: CommandContext, inv: Invocation): Promise<number> {
  const list = await ctx.api.listJobs({
    // The server checks the value (400 invalid_input naming `status`).
    status: stringValue(inv.values, 'status') as ListJobsQuery['status'],
    limit: intValue(inv.values, 'limit', { min: 1, max: 100 }, 20),
  });
  if (ctx.json) printJson(ctx, list);
  else if (!list.items.length) ctx.io.stdout.write('no jobs\n');
  else
    ctx.io.stdout.write(
      renderTable(['ID', 'STATUS', 'PROGRESS', 'TARGET', 'FILES', 'CREATED', 'TAG'], list.items.map(jobRow)),
    );
  return 0;
}
