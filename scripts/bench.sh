#!/usr/bin/env bash
# `npm run bench [-- <case> ...]` / `npm run bench:<case>`: the benchmark suite (bench/suite.ts) with
# the services it needs: deps, the Prisma client, a fresh build, the local S3 server of `npm run up`
# (.kiln/s3, port 7480; started when down, left running). Cases: upload direct memory assembly conversion
# latency scaling queue (all when none is named; or BENCH_CASES=a,b). BENCH_RUNS (default 3) runs
# per case. Results: bench/results/<YYYY-MM-DD>.{json,md}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
bash scripts/prisma-generate.sh >/dev/null
node scripts/build.mjs >/dev/null
if [ -z "${S3_ENDPOINT:-}" ]; then
  bash scripts/s3-local.sh start
  # The suite reads the S3 server's CPU time from its pid files (bench-kit servicesCpu).
  export BENCH_S3_DIR=${KILN_S3_DIR:-$PWD/.kiln/s3}
  set -a
  # shellcheck disable=SC1091
  . "${KILN_S3_DIR:-.kiln/s3}/s3.env"
  set +a
fi
exec node dist/bench/suite.js "$@"
