#!/usr/bin/env bash
# `npm run chaos`: faults injected while 60+ jobs run on an isolated stack (test/chaos/run.ts), then a
# table per fault of completed / failed / canceled / stuck / duplicated jobs, written to
# bench/results/<YYYY-MM-DD>-chaos.{md,json}. Needs what the e2e tests need: deps, the Prisma client,
# a fresh build, ffmpeg, redis-server, PostgreSQL on 5432 and the local S3 server (the one of
# `npm run up`, .kiln/s3 port 7480, started when down and left running; or S3_* already set).
# About 8 minutes on 2 cores. CHAOS_ROUNDS (default 3), CHAOS_MIN_JOBS (60), CHAOS_PACE_MS (2500).
# Exit status 1 when a job is stuck or duplicated.
set -euo pipefail
cd "$(dirname "$0")/.."
# Neither compose nor a browser is needed here.
KILN_NEED_COMPOSE=0 KILN_NEED_BROWSER=0 bash scripts/ensure-deps.sh
bash scripts/prisma-generate.sh >/dev/null
node scripts/build.mjs >/dev/null
if [ -z "${S3_ENDPOINT:-}" ]; then
  bash scripts/s3-local.sh start
  set -a
  # shellcheck disable=SC1091
  . "${KILN_S3_DIR:-.kiln/s3}/s3.env"
  set +a
fi
exec node scripts/chaos-run.cjs test/chaos/run.ts
