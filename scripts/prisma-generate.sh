#!/usr/bin/env bash
# Generates the Prisma 7 client (libs/database/src/generated). The CLI wants a schema engine binary
# it cannot download here; `generate` never runs it, so any existing file satisfies the check.
set -euo pipefail
cd "$(dirname "$0")/.."
export PRISMA_SCHEMA_ENGINE_BINARY="${PRISMA_SCHEMA_ENGINE_BINARY:-/bin/true}"
export PRISMA_HIDE_UPDATE_MESSAGE=1 CHECKPOINT_DISABLE=1
npx --no-install prisma generate --schema prisma/schema.prisma
