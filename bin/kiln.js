#!/usr/bin/env node
// Launcher of the kiln command (`npx kiln …` in this repository): runs the compiled CLI, building
// dist/ first when it is missing. The build's own output goes to stderr so stdout stays the command's.
'use strict';
const { execFileSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const main = path.join(root, 'dist', 'apps', 'cli', 'src', 'main.js');
if (!existsSync(main)) {
  try {
    execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: ['ignore', 2, 2] });
  } catch (err) {
    process.stderr.write(`kiln: building the CLI failed (node scripts/build.mjs): ${err.message}\n`);
    process.exit(1);
  }
}
require(main);
