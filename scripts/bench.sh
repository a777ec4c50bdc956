#!/usr/bin/env bash
# Runs one benchmark script (bench/<name>.bench.ts) with the services it needs: deps, the local S3
# server of `npm run up` (started when down), a fresh build.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: scripts/bench.sh <name>}
bash scripts/ensure-deps.sh
bash scripts/prisma-generate.sh >/dev/null
node scripts/build.mjs >/dev/null
if [ -z "${S3_ENDPOINT:-}" ]; then
  bash scripts/s3-local.sh start
  set -a
  # shellcheck disable=SC1091
  . "${KILN_S3_DIR:-.kiln/s3}/s3.env"
  set +a
fi
exec node "dist/bench/$name.bench.js"
