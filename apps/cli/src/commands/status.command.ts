import type { Invocation } from '../args';
import type { JobView } from '../api/types';
import { formatBytes } from '../byte-size';
import { renderTable, shortTime } from '../output/table';
import { printJson, type CommandContext } from './command-context';

const size = (n: number | null) => (n === null ? '-' : formatBytes(n));

/** A readable summary of a job. */
export function renderJob(j: JobView): string {
  const lines = [
    `job       ${j.id}`,
    `status    ${j.status.code} (${j.progress}%): ${j.status.info}`,
    ...(j.tag ? [`tag       ${j.tag}`] : []),
    ...(j.callback ? [`callback  ${j.callback}`] : []),
    `created   ${shortTime(j.created_at)}   started ${shortTime(j.started_at)}   finished ${shortTime(j.finished_at)}`,
    '',
    `inputs (${j.input.length})`,
  ];
  const out: string[] = [lines.join('\n')];
  if (j.input.length)
    out.push(
      renderTable(
        ['  id', 'file', 'size', 'status'],
        j.input.map((i) => [
          `  ${i.id}`,
          i.filename ?? i.source ?? '-',
          size(i.size),
          i.error ? `${i.status}: ${i.error}` : i.status,
        ]),
      ).trimEnd(),
    );
  out.push(`\nconversions (${j.conversion.length})`);
  if (j.conversion.length) {
    out.push(
      renderTable(
        ['  id', 'target', 'options', 'status'],
        j.conversion.map((c) => [
          `  ${c.id}`,
          c.target,
          Object.entries(c.options ?? {})
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(' ') || '-',
          `${c.status} ${c.progress}%${c.error ? `: ${c.error}` : ''}`,
        ]),
      ).trimEnd(),
    );
  }
  out.push(`\noutputs (${j.output.length})`);
  if (j.output.length)
    out.push(
      renderTable(
        ['  id', 'file', 'size', 'type'],
        j.output.map((o) => [`  ${o.id}`, o.filename ?? '-', size(o.size), o.content_type ?? '-']),
      ).trimEnd(),
    );
  if (j.errors.length) {
    out.push(`\nerrors (${j.errors.length})`);
    for (const e of j.errors) out.push(`  ${e.code} [${e.source}]: ${e.message}`);
  }
  return `${out.join('\n')}\n`;
}

export async function statusCommand(ctx: CommandContext, inv: Invocation): Promise<number> {
  const job = await ctx.api.getJob(inv.positionals[0]);
  if (ctx.json) printJson(ctx, job);
  else ctx.io.stdout.write(renderJob(job));
  return 0;
}
