// Compiles apps/ and libs/ to dist/ with swc (decorator metadata for NestJS DI) and rewrites the
// @kiln/* path aliases to relative requires, so `node dist/apps/<app>/src/main.js` runs as is.
import { transformFile } from '@swc/core';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist');
const base = JSON.parse(await readFile(path.join(root, 'tsconfig.base.json'), 'utf8'));

async function* sources(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === 'node_modules') continue;
      yield* sources(full);
    } else if (/\.ts$/.test(entry.name) && !/\.(spec|int-spec|e2e-spec|d)\.ts$/.test(entry.name)) {
      yield full;
    }
  }
}

// dist is overwritten in place (not wiped) so running processes keep their files.
if (!existsSync(path.join(root, 'libs/database/src/generated/client.ts'))) {
  execFileSync('bash', [path.join(root, 'scripts/prisma-generate.sh')], { stdio: 'inherit' });
}
const files = [];
// bench/ is not in the Docker image's build context: compile what is there.
for (const top of ['apps', 'libs', 'bench']) {
  if (!existsSync(path.join(root, top))) continue;
  for await (const f of sources(path.join(root, top))) files.push(f);
}

async function compile(file) {
  const { code, map } = await transformFile(file, {
    sourceMaps: true,
    jsc: {
      target: 'es2022',
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      baseUrl: root,
      paths: base.compilerOptions.paths,
    },
    module: { type: 'commonjs' },
  });
  const target = path.join(out, path.relative(root, file)).replace(/\.ts$/, '.js');
  await mkdir(path.dirname(target), { recursive: true });
  await writeFile(target, `${code}\n//# sourceMappingURL=${path.basename(target)}.map\n`);
  if (map) await writeFile(`${target}.map`, map);
}
// Eight files at once (p-limit): swc works off the main thread.
const limit = pLimit(8);
await Promise.all(files.map((file) => limit(() => compile(file))));
// Static assets served as they are (the gateway's web page: HTML, CSS, JS modules). The folder is
// replaced, not merged: the gateway serves every file it finds there, so a removed module must go too.
for (const dir of ['apps/api-gateway/src/web/static']) {
  await rm(path.join(out, dir), { recursive: true, force: true });
  await cp(path.join(root, dir), path.join(out, dir), { recursive: true, force: true });
}
// Uppy (core and @uppy/aws-s3) for the web page, bundled into one ES module beside its files.
await build({
  entryPoints: [path.join(root, 'apps/api-gateway/src/web/bundle/uppy-entry.js')],
  outfile: path.join(out, 'apps/api-gateway/src/web/static/uppy.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  legalComments: 'eof',
  logLevel: 'warning',
});
console.log(`built ${files.length} files into dist/`);
