// What the reconciler of an assembler repaired: kiln_reconciler_repairs_total{repair} read from the
// assembler's own /metrics (KILN_WORKER_HTTP_PORT), and its "re-drove lost work" log lines.
import type { RunningApp } from '../stack';

/** kiln_reconciler_repairs_total by repair kind (units, finalize, callback, missing-callback, cancel, schedule). */
export async function reconcilerRepairs(metricsUrl: string): Promise<Record<string, number>> {
  const res = await fetch(`${metricsUrl}/metrics`);
  if (!res.ok) throw new Error(`GET ${metricsUrl}/metrics answered ${res.status}`);
  const counts: Record<string, number> = {};
  for (const line of (await res.text()).split('\n')) {
    const m = /^kiln_reconciler_repairs_total\{[^}]*repair="([^"]+)"[^}]*\}\s+(\S+)/.exec(line);
    if (m) counts[m[1]] = (counts[m[1]] ?? 0) + Number(m[2]);
  }
  return counts;
}

/** Sums of several assemblers' counters. */
export async function repairsOf(metricsUrls: string[]): Promise<Record<string, number>> {
  const total: Record<string, number> = {};
  for (const url of metricsUrls) {
    const counts = await reconcilerRepairs(url).catch(() => ({}) as Record<string, number>);
    for (const [k, v] of Object.entries(counts)) total[k] = (total[k] ?? 0) + v;
  }
  return total;
}

/** The reconciler's "re-drove lost work" log lines of an app (JSON with the counts of one pass). */
export function repairLogLines(app: RunningApp): Record<string, number>[] {
  return app.output
    .join('')
    .split('\n')
    .filter((l) => l.includes('reconciler re-drove lost work'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, number>];
      } catch {
        return [];
      }
    });
}
