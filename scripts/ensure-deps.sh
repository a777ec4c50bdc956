#!/usr/bin/env bash
# Installs and starts what Kiln needs on a machine of this kind (Debian 12/13, root): npm packages,
# ffmpeg, the Ceph radosgw set (local S3), and Redis/PostgreSQL when they are down. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[deps] %s\n' "$*" >&2; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    $SUDO apt-get update -q >/dev/null
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || apt_install ffmpeg
# Documents: LibreOffice headless (no GUI) and poppler for PDF pages, with fonts a document can name.
command -v soffice >/dev/null && command -v pdftoppm >/dev/null && command -v pdfinfo >/dev/null || apt_install libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui poppler-utils fonts-dejavu-core fonts-liberation2 fonts-crosextra-carlito fonts-crosextra-caladea
command -v radosgw >/dev/null && command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null || apt_install ceph-mon ceph-osd radosgw ceph-common
if [ "${KILN_NEED_COMPOSE:-1}" = 1 ] && ! command -v docker-compose >/dev/null; then apt_install docker-compose || log "docker-compose not installable; compose validation will be skipped"; fi
command -v redis-server >/dev/null || apt_install redis-server
# Debian's Chromium drives the web page's browser test (playwright-core never downloads a browser).
[ "${KILN_NEED_BROWSER:-1}" = 1 ] && ! [ -x /usr/bin/chromium ] && { apt_install chromium || log "chromium not installable; the browser test will fail"; }
command -v pg_ctlcluster >/dev/null || apt_install postgresql

REDIS_PORT=$(node -e "console.log(new URL(process.env.REDIS_URL||'redis://127.0.0.1:6379').port||6379)")
if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  log "starting Redis on $REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >/dev/null
  for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  log "starting PostgreSQL"
  ver=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || $SUDO pg_ctlcluster "$ver" main start
  for _ in $(seq 1 100); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.1; done
fi

if [ ! -d node_modules/.bin ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
