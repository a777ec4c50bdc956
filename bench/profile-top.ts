// `node dist/bench/profile-top.js <file.cpuprofile> [top]`: where a process's CPU went, from a V8 CPU
// profile (written by the suite when BENCH_PROFILE names an app, e.g. BENCH_PROFILE=converter, into
// the run's log folder under profiles/). Prints self time by function and by package / source file.
import { readFile } from 'node:fs/promises';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** node_modules/<package> (scoped too), a file of ours, or a V8/Node category. */
function ownerOf(url: string): string {
  if (!url) return '(native / V8)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (url.startsWith('node:')) return url;
  const dist = url.indexOf('/dist/');
  return dist >= 0 ? url.slice(dist + 1).replace(/^file:\/\//, '') : path.basename(url);
}

async function main(): Promise<void> {
  const [file, topArg] = process.argv.slice(2);
  if (!file) throw new Error('usage: node dist/bench/profile-top.js <file.cpuprofile> [top]');
  const top = Number(topArg ?? 25);
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFunction = new Map<string, number>();
  const byOwner = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    const key = `${functionName || '(anonymous)'}  ${url ? `${ownerOf(url)}:${lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const owner = ['(idle)', '(program)', '(garbage collector)'].includes(functionName) ? functionName : ownerOf(url);
    byOwner.set(owner, (byOwner.get(owner) ?? 0) + us);
  }
  const print = (title: string, m: Map<string, number>) => {
    process.stdout.write(`\n${title}\n`);
    for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(
        `  ${(us / 1000).toFixed(0).padStart(8)} ms  ${((us / total) * 100).toFixed(1).padStart(5)} %  ${k}\n`,
      );
    }
  };
  process.stdout.write(
    `${file}: ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s profiled, ${(total / 1e6).toFixed(1)} s sampled\n`,
  );
  print('self time by package / file', byOwner);
  print('self time by function', byFunction);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
