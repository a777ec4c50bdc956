import type { OptionSpec, TargetSpec } from '@kiln/contracts';
import type { Invocation } from '../args';
import { renderTable } from '../output/table';
import { printJson, type CommandContext } from './command-context';

function optionRange(o: OptionSpec): string {
  if (o.type === 'enum') return o.values.join('|');
  if (o.type === 'boolean') return 'true|false';
  return `${o.type} ${o.min}-${o.max}`;
}

/** The text of the catalog: one block per target with its options. */
export function renderFormats(targets: TargetSpec[]): string {
  return targets
    .map((t) => {
      const from = t.accepts.map((k) => (t.engines?.[k] ? `${k} via ${t.engines[k]}` : k)).join(', ');
      const head = `${t.target}  (${t.category}; from ${from})  ${t.description}`;
      const rows = Object.entries(t.options).map(([name, o]) => [
        `  ${name}`,
        optionRange(o),
        o.default !== undefined ? `default ${o.default}` : '',
        o.description,
      ]);
      return rows.length
        ? `${head}\n${renderTable(['  option', 'values', 'default', 'description'], rows)}`
        : `${head}\n  (no options)\n`;
    })
    .join('\n');
}

export async function formatsCommand(ctx: CommandContext, inv: Invocation): Promise<number> {
  const catalog = await ctx.api.formats();
  const wanted = inv.positionals[0]?.toLowerCase();
  const targets = wanted ? catalog.filter((t) => t.target === wanted) : catalog;
  if (wanted && !targets.length)
    throw new Error(`unknown target "${wanted}"; known: ${catalog.map((t) => t.target).join(', ')}`);
  if (ctx.json) printJson(ctx, wanted ? targets[0] : catalog);
  else ctx.io.stdout.write(renderFormats(targets));
  return 0;
}
