#!/usr/bin/env bash
# `npm test`: prepares everything (deps, services, local S3, Prisma client, build) and runs every
# test tier (unit, int, e2e) in one Jest run. Works on a clean clone with no manual step.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

bash scripts/ensure-deps.sh
bash scripts/prisma-generate.sh >/dev/null
# Format, lint (module boundaries included) and types first: seconds, and the tree must be clean.
npx --no-install biome ci --colors=off
npx --no-install tsc -p tsconfig.json --noEmit
node scripts/build.mjs

# The tests' own S3 server (ports apart from `npm run up`'s so both can run at once).
export KILN_S3_DIR=${KILN_TEST_S3_DIR:-$PWD/.kiln/s3-test}
export KILN_S3_PORT=${KILN_TEST_S3_PORT:-7490}
export KILN_S3_MON_PORT=${KILN_TEST_S3_MON_PORT:-6950}
s3_was_running=0
bash scripts/s3-local.sh status >/dev/null 2>&1 && s3_was_running=1
# Another checkout's test S3 server may hold the default ports: then this one takes free ports.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
if [ "$s3_was_running" = 0 ]; then
  if [ -z "${KILN_TEST_S3_PORT:-}" ] && port_busy "$KILN_S3_PORT"; then KILN_S3_PORT=$(free_port); echo "[test] S3 port taken by another process; using $KILN_S3_PORT"; fi
  if [ -z "${KILN_TEST_S3_MON_PORT:-}" ] && port_busy "$KILN_S3_MON_PORT"; then KILN_S3_MON_PORT=$(free_port); echo "[test] S3 monitor port taken; using $KILN_S3_MON_PORT"; fi
fi
bash scripts/s3-local.sh start
if [ "$s3_was_running" = 0 ] && [ "${KILN_KEEP_S3:-0}" != 1 ]; then
  trap 'bash scripts/s3-local.sh stop >/dev/null 2>&1 || true' EXIT
fi
set -a
# shellcheck disable=SC1091
. "$KILN_S3_DIR/s3.env"
set +a

status=0
mkdir -p .kiln
# Never a stale results file: this run's or none.
rm -f .kiln/jest-results.json
npx --no-install jest --maxWorkers=2 --json --outputFile=.kiln/jest-results.json "$@" || status=$?
echo "[test] wall time: $(( $(date +%s) - started )) s"
# One plain closing line for CI: "tests: N passed, N failed". A suite that fails outside any test
# (a crash in a hook, a file that does not load) counts as one failure.
node -e "
const r = require('./.kiln/jest-results.json');
const broken = r.testResults.filter((s) => s.status === 'failed' && s.assertionResults.every((a) => a.status !== 'failed')).length;
console.log('tests: ' + r.numPassedTests + ' passed, ' + (r.numFailedTests + broken) + ' failed' + (r.numPendingTests ? ', ' + r.numPendingTests + ' skipped' : ''));
" || { echo 'tests: 0 passed, 1 failed'; status=1; }
exit $status
