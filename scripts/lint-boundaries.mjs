// Writes biome.json: the formatter and linter settings, plus one override per project that makes
// Biome's noRestrictedImports refuse every @kiln/* import its layer does not allow
// (scripts/module-layers.json, the same map test/module-boundaries.spec.ts reads; that test fails
// when biome.json and the map disagree). Run after changing a layer: node scripts/lint-boundaries.mjs
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { layers } = JSON.parse(readFileSync(path.join(root, 'scripts/module-layers.json'), 'utf8'));

/** Where a project's sources are: apps/<name>/src or libs/<name>/src. */
function sourceDir(name) {
  for (const top of ['apps', 'libs']) if (existsSync(path.join(root, top, name))) return `${top}/${name}/src`;
  throw new Error(`no apps/${name} or libs/${name}`);
}

/** The override of one project: product sources only (specs and testing/ helpers may reach further). */
export function boundaryOverride(name, allowed) {
  const dir = sourceDir(name);
  const own = [name, ...allowed].flatMap((p) => [`!@kiln/${p}`, `!@kiln/${p}/**`]);
  return {
    includes: [`${dir}/**`, '!**/*.spec.ts', '!**/*.int-spec.ts', '!**/testing/**'],
    linter: {
      rules: {
        style: {
          noRestrictedImports: {
            level: 'error',
            options: {
              patterns: [
                {
                  group: ['@kiln/**', ...own],
                  message: allowed.length
                    ? `${name} may import only ${allowed.map((p) => `@kiln/${p}`).join(', ')} (scripts/module-layers.json).`
                    : `${name} imports nothing of ours (scripts/module-layers.json).`,
                },
              ],
            },
          },
        },
      },
    },
  };
}

export function biomeConfig() {
  return {
    $schema: './node_modules/@biomejs/biome/configuration_schema.json',
    vcs: { enabled: true, clientKind: 'git', useIgnoreFile: true },
    files: {
      includes: [
        'apps/**',
        'libs/**',
        'test/**',
        'e2e/**',
        'bench/**',
        'scripts/**',
        'bin/**',
        '*.ts',
        '*.js',
        '*.json',
        '!**/generated',
        '!bench/results',
        '!package-lock.json',
      ],
    },
    formatter: { enabled: true, indentStyle: 'space', indentWidth: 2, lineWidth: 120 },
    javascript: {
      formatter: { quoteStyle: 'single', trailingCommas: 'all', semicolons: 'always', arrowParentheses: 'always' },
      parser: { unsafeParameterDecoratorsEnabled: true },
    },
    assist: { enabled: false },
    linter: {
      enabled: true,
      rules: {
        preset: 'recommended',
        style: {
          // NestJS injects by the constructor's parameter types: a type-only import would erase them.
          useImportType: 'off',
          // Non-null assertions mark what a check just above (or the type system's gap) guarantees.
          noNonNullAssertion: 'off',
        },
        suspicious: {
          // Focused tests are refused in test files (below); elsewhere `fit` is an ordinary name.
          noFocusedTests: 'off',
        },
        correctness: {
          // `return next()` / `return send()` in a void handler is the house idiom for "and stop here".
          noVoidTypeReturn: 'off',
        },
        complexity: {
          // NestJS dynamic modules are classes with a static forRoot().
          noStaticOnlyClass: 'off',
        },
      },
    },
    overrides: [
      {
        // CommonJS files: 'use strict' is not implied there.
        includes: ['bin/**', 'scripts/jest-paths.js', 'jest.config.js'],
        linter: { rules: { suspicious: { noRedundantUseStrict: 'off' } } },
      },
      {
        includes: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts'],
        linter: { rules: { suspicious: { noFocusedTests: 'error', noSkippedTests: 'error' } } },
      },
      ...Object.entries(layers).map(([name, allowed]) => boundaryOverride(name, allowed)),
    ],
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = path.join(root, 'biome.json');
  writeFileSync(file, `${JSON.stringify(biomeConfig(), null, 2)}\n`);
  execFileSync(path.join(root, 'node_modules/.bin/biome'), ['format', '--write', file], { stdio: 'ignore' });
  console.log('biome.json written');
}
