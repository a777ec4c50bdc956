// The layering of shared/design/STYLE.md, checked on every test run: which project may import which.
// (The role Nx's module-boundary lint plays; the tags live in each project.json.)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

const ALLOWED: Record<string, string[]> = {
  contracts: [],
  config: ['contracts'],
  database: ['contracts', 'config'],
  storage: ['contracts', 'config'],
  queue: ['contracts', 'config'],
  media: ['contracts', 'config'],
  observability: ['contracts', 'config'],
  workflow: ['contracts', 'config', 'database', 'storage', 'queue'],
  // The core providers every process builds once (config, logger, database, Redis, storage, lifecycle).
  'runtime-core': ['contracts', 'config', 'database', 'storage', 'queue', 'observability', 'workflow'],
  'worker-runtime': ['contracts', 'config', 'database', 'storage', 'queue', 'observability', 'workflow', 'runtime-core'],
  'api-gateway': ['contracts', 'config', 'database', 'storage', 'queue', 'observability', 'workflow', 'runtime-core'],
  assembler: ['contracts', 'config', 'database', 'storage', 'queue', 'observability', 'workflow', 'worker-runtime'],
  converter: ['contracts', 'config', 'database', 'storage', 'queue', 'observability', 'workflow', 'worker-runtime', 'media'],
  // A pure HTTP client of the public API: the catalog's types, nothing that needs a service.
  cli: ['contracts'],
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'generated' ? [] : sources(full);
    return /\.ts$/.test(name) && !/\.(spec|int-spec)\.ts$/.test(name) && !full.includes(`${path.sep}testing${path.sep}`) ? [full] : [];
  });
}

const projects = ['apps', 'libs'].flatMap((top) => readdirSync(path.join(ROOT, top)).map((name) => ({ name, dir: path.join(ROOT, top, name) })));

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
      for (const m of text.matchAll(/(?:from|import|require\()\s*['"]([^'"]+)['"]/g)) {
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
});
