// Runs a TypeScript entry (test/chaos/run.ts by default) as it is, compiled on load by swc with the
// same settings as the build and Jest (decorators, @kiln/* paths): the chaos run uses the test
// helpers (test/stack.ts & co.), which start the apps from dist/ and find them from their own folder.
const { readFileSync } = require('node:fs');
const path = require('node:path');
const { transformSync } = require('@swc/core');

const root = path.resolve(__dirname, '..');
const base = JSON.parse(readFileSync(path.join(root, 'tsconfig.base.json'), 'utf8'));

require.extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(readFileSync(filename, 'utf8'), {
    filename,
    sourceMaps: 'inline',
    jsc: {
      target: 'es2022',
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      baseUrl: root,
      paths: base.compilerOptions.paths,
    },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};
process.setSourceMapsEnabled?.(true);
require(path.resolve(root, process.argv[2] ?? 'test/chaos/run.ts'));
