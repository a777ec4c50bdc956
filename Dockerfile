# One image for every Kiln app (gateway, assembler, converter, migrate); the command picks the app.
# Multi-stage: build with dev dependencies, run on a slim image with ffmpeg and production deps only.
# Node 22 (LTS "Jod", maintained until April 2027): Node 20 reached its end of life in April 2026.
# The code needs nothing newer than Node 20.10 (package.json engines) and uses nothing Node 22 removed.
ARG NODE_IMAGE=node:22.23.0-bookworm-slim
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json tsconfig.json prisma.config.ts ./
COPY prisma ./prisma
COPY scripts ./scripts
COPY libs ./libs
COPY apps ./apps
RUN bash scripts/prisma-generate.sh && node scripts/build.mjs && npm prune --omit=dev

FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg ca-certificates curl tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
# A small young generation: upload buffers die young and are freed sooner (peak RSS about 60 MiB lower under load).
# --expose-gc: the S3 relay collects the young generation every KILN_RELAY_GC_BYTES relayed (about 30 MiB lower again).
ENV NODE_OPTIONS="--max-semi-space-size=2 --expose-gc"
# Fewer glibc malloc arenas: freed socket buffers are reused instead of kept per thread (peak RSS about 60 MiB lower).
ENV MALLOC_ARENA_MAX=2
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/prisma ./prisma
COPY package.json ./
RUN mkdir -p /tmp/kiln && chown node:node /tmp/kiln
USER node
ENV KILN_TMP_DIR=/tmp/kiln
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/apps/api-gateway/src/main.js"]

# The document converter: the same image plus LibreOffice (headless, no GUI) and poppler, for the
# `office` engine's queue only (KILN_CONVERTER_ENGINES=office), so it scales apart from the media
# converters. `docker build --target document .`
FROM runtime AS document
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends libreoffice-writer-nogui libreoffice-calc-nogui \
      libreoffice-impress-nogui poppler-utils fonts-dejavu-core fonts-liberation2 fonts-crosextra-carlito \
      fonts-crosextra-caladea \
 && rm -rf /var/lib/apt/lists/*
USER node
ENV KILN_CONVERTER_ENGINES=office
CMD ["node", "dist/apps/converter/src/main.js"]

# The default target: every app but the document converter (a plain `docker build .`).
FROM runtime AS app
