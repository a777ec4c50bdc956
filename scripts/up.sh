#!/usr/bin/env bash
# `npm run up`: the whole service on this machine. Installs what is missing, starts Redis/PostgreSQL
# when down and a local S3 server (Ceph radosgw), migrates, then runs the gateway, one assembler and
# a converter of each kind (media: ffmpeg and libvips; documents: LibreOffice). Ctrl-C stops everything it started. Every address, port and key can be overridden
# by environment variables (README: Configuration).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .kiln/logs

bash scripts/ensure-deps.sh
bash scripts/prisma-generate.sh >/dev/null
node scripts/build.mjs >/dev/null

# Keys made once per checkout and kept in .kiln/dev.env (git-ignored) unless given.
if [ ! -f .kiln/dev.env ]; then
  {
    echo "GENERATED_API_KEY=kiln_$(node -e "console.log(require('crypto').randomBytes(18).toString('base64url'))")"
    echo "GENERATED_WEBHOOK_SECRET=whsec_$(node -e "console.log(require('crypto').randomBytes(24).toString('hex'))")"
  } > .kiln/dev.env
  chmod 600 .kiln/dev.env
fi
# Secrets added since a checkout's dev.env was made are appended once.
rand_hex() { node -e "console.log(require('crypto').randomBytes(24).toString('hex'))"; }
grep -q '^GENERATED_WEB_SESSION_SECRET=' .kiln/dev.env || echo "GENERATED_WEB_SESSION_SECRET=$(rand_hex)" >> .kiln/dev.env
grep -q '^GENERATED_ADMIN_TOKEN=' .kiln/dev.env || echo "GENERATED_ADMIN_TOKEN=adm_$(rand_hex)" >> .kiln/dev.env
# shellcheck disable=SC1091
. .kiln/dev.env
export KILN_API_KEYS=${KILN_API_KEYS:-$GENERATED_API_KEY}
export KILN_WEBHOOK_SECRET=${KILN_WEBHOOK_SECRET:-$GENERATED_WEBHOOK_SECRET}
# The web page's cookies are signed with a secret of their own; the queue board opens with the admin token.
export KILN_WEB_SESSION_SECRET=${KILN_WEB_SESSION_SECRET:-$GENERATED_WEB_SESSION_SECRET}
export KILN_ADMIN_TOKEN=${KILN_ADMIN_TOKEN:-$GENERATED_ADMIN_TOKEN}
export KILN_PORT=${KILN_PORT:-3000}
export DATABASE_URL=${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/kiln}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export KILN_PUBLIC_URL=${KILN_PUBLIC_URL:-http://127.0.0.1:$KILN_PORT}
# The SSRF guard stays on: remote inputs and callbacks to private, loopback and link-local addresses
# are refused. A callback receiver on this machine (README walkthrough) needs
#   KILN_ALLOW_PRIVATE_URLS=true npm run up
if [ "${KILN_ALLOW_PRIVATE_URLS:-false}" = true ]; then
  private_urls="allowed (KILN_ALLOW_PRIVATE_URLS=true): inputs and callbacks may reach this machine and its network"
else
  private_urls="refused (for a callback receiver on this machine: KILN_ALLOW_PRIVATE_URLS=true npm run up)"
fi
# Clients send one key: the first configured one is printed.
api_keys=()
IFS=, read -r -a listed <<<"$KILN_API_KEYS"
for k in "${listed[@]}"; do
  k=${k//[[:space:]]/}
  [ -n "$k" ] && api_keys+=("$k")
done
first_key=${api_keys[0]:-}
key_count=${#api_keys[@]}
if [ "$key_count" -gt 1 ]; then
  key_note=" (the first of $key_count keys in KILN_API_KEYS; any of them works)"
else
  key_note=""
fi
# A small young generation keeps upload buffers short-lived (README: Performance).
export NODE_OPTIONS=${NODE_OPTIONS:---max-semi-space-size=2 --expose-gc}
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}

pids=()
s3_started=0
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "[up] stopping..."
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ "$s3_started" = 1 ] && bash scripts/s3-local.sh stop || true
  echo "[up] stopped"
}
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

if [ -z "${S3_ENDPOINT:-}" ]; then
  bash scripts/s3-local.sh status >/dev/null 2>&1 || s3_started=1
  bash scripts/s3-local.sh start
  set -a
  # shellcheck disable=SC1091
  . "${KILN_S3_DIR:-.kiln/s3}/s3.env"
  set +a
fi

node dist/libs/database/src/migrate.main.js

start() {
  local name=$1 script=$2
  shift 2
  env "$@" node "$script" >> ".kiln/logs/$name.log" 2>&1 &
  pids+=($!)
  echo "[up] $name started (pid $!, log .kiln/logs/$name.log)"
}
start api-gateway dist/apps/api-gateway/src/main.js
start assembler dist/apps/assembler/src/main.js
# One converter of each kind: media (ffmpeg and libvips) and documents (LibreOffice and poppler).
start converter dist/apps/converter/src/main.js KILN_CONVERTER_ENGINES=ffmpeg,vips
start document-converter dist/apps/converter/src/main.js KILN_CONVERTER_ENGINES=office

for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$KILN_PORT/health/ready" >/dev/null 2>&1; then break; fi
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { echo "[up] a process exited; see .kiln/logs/"; tail -n 20 .kiln/logs/*.log; exit 1; }; done
  sleep 0.5
done

cat <<MSG

Kiln is up.
  API:        $KILN_PUBLIC_URL/v1
  Health:     $KILN_PUBLIC_URL/health/ready
  Formats:    $KILN_PUBLIC_URL/v1/formats
  S3:         $S3_ENDPOINT (bucket ${S3_BUCKET:-kiln})
  API key:    $first_key$key_note
  Private URLs: $private_urls
  Webhook secret (verifies X-Kiln-Signature): $KILN_WEBHOOK_SECRET
  Web page:   $KILN_PUBLIC_URL/ (sign in with the API key)
  Queue board (operators): $KILN_PUBLIC_URL/admin/queues with the admin token in .kiln/dev.env (GENERATED_ADMIN_TOKEN)
  Logs:       .kiln/logs/

  export KILN_API_KEY=$first_key
Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}" || true
echo "[up] a process exited; stopping the rest"
