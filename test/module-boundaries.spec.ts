// The layering of shared/design/STYLE.md, checked on every test run: which project may import which
// (scripts/module-layers.json), no import cycle between the folders of a project, and biome.json's
// lint rules (noRestrictedImports per project, written by scripts/lint-boundaries.mjs) saying the same
// as the map, so the lint enforces the layering while one edits. The tags live in each project.json.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

/** Which project may import which: one map, read here and turned into biome.json's lint rules. */
const ALLOWED: Record<string, string[]> = JSON.parse(
  readFileSync(path.join(ROOT, 'scripts/module-layers.json'), 'utf8'),
).layers;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'generated' ? [] : sources(full);
    return /\.ts$/.test(name) && !/\.(spec|int-spec)\.ts$/.test(name) && !full.includes(`${path.sep}testing${path.sep}`)
      ? [full]
      : [];
  });
}

/**
 * A node of the folder graph: the folder a file is in (relative to src); a file directly in src is
 * a node of its own (src is where the app is composed and a few shared files live, not a folder
 * of the project's behaviour). `./x` names a file in the folder or a folder with an index.
 */
function node(src: string, file: string): string {
  const folder = path.relative(src, path.dirname(file));
  return folder || path.basename(file).replace(/\.(ts|js)$/, '');
}

/** Folder (relative to the project's src) → folder → one import that makes the edge, from relative imports. */
function folderGraph(src: string): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of sources(src)) {
    const from = node(src, file);
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      if (!m[1].startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), m[1]);
      if (!target.startsWith(src + path.sep)) continue;
      const to =
        existsSync(target) && statSync(target).isDirectory() ? path.relative(src, target) || '.' : node(src, target);
      if (to === from) continue;
      if (!graph.has(from)) graph.set(from, new Map());
      if (!graph.get(from)!.has(to)) graph.get(from)!.set(to, `${path.relative(ROOT, file)} imports ${m[1]}`);
    }
  }
  return graph;
}

/** Strongly connected components with more than one folder (Tarjan): each is an import cycle. */
function cycles(graph: Map<string, Map<string, string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (let w = stack.pop()!; ; w = stack.pop()!) {
      component.push(w);
      if (w === v) break;
    }
    if (component.length > 1) out.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

const IMPORT = /(?:from|import|require\()\s*['"]([^'"]+)['"]/g;

const projects = ['apps', 'libs'].flatMap((top) =>
  readdirSync(path.join(ROOT, top)).map((name) => ({ name, dir: path.join(ROOT, top, name) })),
);

describe('module boundaries', () => {
  it('every project has a rule and a project.json with tags', () => {
    for (const p of projects) {
      expect(ALLOWED[p.name]).toBeDefined();
      const json = JSON.parse(readFileSync(path.join(p.dir, 'project.json'), 'utf8')) as { tags: string[] };
      expect(json.tags.length).toBeGreaterThan(0);
    }
  });

  it.each(projects.map((p) => [p.name, p.dir]))('%s imports only what its layer allows', (name, dir) => {
    const problems: string[] = [];
    for (const file of sources(path.join(dir, 'src'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(IMPORT)) {
        const spec = m[1];
        const rel = path.relative(ROOT, file);
        const kiln = /^@kiln\/([^/]+)/.exec(spec);
        if (kiln && kiln[1] !== name && !ALLOWED[name].includes(kiln[1])) problems.push(`${rel} imports ${spec}`);
        if (spec.startsWith('.')) {
          const target = path.resolve(path.dirname(file), spec);
          if (!target.startsWith(dir + path.sep)) problems.push(`${rel} reaches outside its project: ${spec}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it.each(projects.map((p) => [p.name, p.dir]))('%s has no import cycle between its folders', (_name, dir) => {
    const graph = folderGraph(path.join(dir, 'src'));
    const found = cycles(graph).map((folders) => ({
      folders,
      // One import per edge inside the cycle, so the fix can start from it.
      imports: folders.flatMap((a) =>
        folders.filter((b) => graph.get(a)?.has(b)).map((b) => `${a} → ${b}: ${graph.get(a)!.get(b)}`),
      ),
    }));
    expect(found).toEqual([]);
  });
  it('biome.json refuses, per project, exactly the @kiln imports its layer does not allow', () => {
    type Override = {
      includes: string[];
      linter?: { rules?: { style?: { noRestrictedImports?: { options: { patterns: { group: string[] }[] } } } } };
    };
    const biome = JSON.parse(readFileSync(path.join(ROOT, 'biome.json'), 'utf8')) as { overrides: Override[] };
    const byDir = new Map<string, string[]>();
    for (const o of biome.overrides) {
      const group = o.linter?.rules?.style?.noRestrictedImports?.options.patterns[0]?.group;
      if (group) byDir.set(o.includes[0], group);
    }
    for (const p of projects) {
      const dir = `${path.relative(ROOT, p.dir)}/src/**`;
      const own = [p.name, ...ALLOWED[p.name]].flatMap((n) => [`!@kiln/${n}`, `!@kiln/${n}/**`]);
      expect({ project: p.name, group: byDir.get(dir) }).toEqual({ project: p.name, group: ['@kiln/**', ...own] });
    }
    expect(byDir.size).toBe(projects.length);
  });
});
