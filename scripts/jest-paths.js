// Maps the tsconfig path aliases (@kiln/*) for Jest, so tests and the build read one list.
const path = require('node:path');
const base = require('../tsconfig.base.json');

function pathsToModuleNameMapper() {
  const out = {};
  for (const [alias, [target]] of Object.entries(base.compilerOptions.paths)) {
    const escaped = alias.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    out[`^${escaped}$`] = path.join(__dirname, '..', target);
  }
  return out;
}

module.exports = { pathsToModuleNameMapper };
