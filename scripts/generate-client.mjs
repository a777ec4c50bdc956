// Writes @kiln/client's generated files (libs/client/src/openapi.json and schema.ts) from the
// gateway's OpenAPI document: `npm run client:generate`. With --check it writes nothing and exits 1
// when a committed file differs from what it would write; with --print it writes nothing and prints
// the rendered files as JSON ({path: text}) for libs/client/src/generated-files.spec.ts.
//
// The document is built by TypeScript code (apps/api-gateway/src/docs/openapi.ts), so this loads .ts
// files through swc (the compiler of scripts/build.mjs) and the @kiln/* aliases of tsconfig.base.json:
// no build of dist/ is needed.
import { readFileSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { transformSync } = require('@swc/core');
const aliases = JSON.parse(readFileSync(path.join(root, 'tsconfig.base.json'), 'utf8')).compilerOptions.paths;

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  const target = aliases[request]?.[0];
  return resolve.call(this, target ? path.join(root, target) : request, ...rest);
};
Module._extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(readFileSync(filename, 'utf8'), {
    filename,
    jsc: {
      target: 'es2022',
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
    },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};

const { openApiDocument } = require(path.join(root, 'apps/api-gateway/src/docs/openapi.ts'));
const { renderClientFiles } = require(path.join(root, 'libs/client/codegen/render.ts'));

const files = await renderClientFiles(openApiDocument());
if (process.argv.includes('--print')) {
  // Exit only once the pipe has taken every byte: process.exit() right after a write to a pipe cuts it.
  process.stdout.write(JSON.stringify(files), () => process.exit(0));
  await new Promise(() => {});
}
const check = process.argv.includes('--check');
const stale = [];
for (const [file, text] of Object.entries(files)) {
  const full = path.join(root, file);
  let current = '';
  try {
    current = readFileSync(full, 'utf8');
  } catch {
    /* not written yet */
  }
  if (current === text) continue;
  stale.push(file);
  if (!check) writeFileSync(full, text);
}
if (check && stale.length) {
  console.error(`stale: ${stale.join(', ')}; run npm run client:generate`);
  process.exit(1);
}
console.log(stale.length ? `written: ${stale.join(', ')}` : 'generated files are up to date');
