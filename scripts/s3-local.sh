#!/usr/bin/env bash
# Local S3 for development and tests: a single-node Ceph radosgw (one monitor, one BlueStore OSD, one
# gateway) run without systemd, everything inside one data folder. Recipe: shared/ENVIRONMENT.md
# ("Object storage: no MinIO binary here").
#
#   scripts/s3-local.sh start|stop|status|env     daemons in the background (tests, `npm run up`)
#   scripts/s3-local.sh run                       the same start in the foreground: then creates the
#                     buckets in KILN_S3_BUCKETS, serves until SIGTERM/SIGINT and stops the daemons
#                     (the entrypoint of the compose S3 image, deploy/s3/Dockerfile)
#   scripts/s3-local.sh ready                     exit 0 once `run` has finished its start (healthcheck)
#
# Settings (environment):
#   KILN_S3_DIR       data folder                     (default <repo>/.kiln/s3)
#   KILN_S3_PORT      S3 HTTP port                     (default 7480)
#   KILN_S3_BIND      address the S3 port binds        (default 127.0.0.1; 0.0.0.0 in the container).
#                     The monitor and the OSD always stay on 127.0.0.1.
#   KILN_S3_BUCKETS   comma-separated buckets `run` creates when missing (default none)
#   KILN_S3_REQUIRE_SECRET=true   `run` refuses to start without S3_SECRET_KEY (16+ characters):
#                     the container never serves with the built-in development key
#   KILN_S3_MON_PORT  monitor port (v1) on 127.0.0.1   (default 6789); the OSD binds ports in
#                     [MON_PORT+11, MON_PORT+110], so instances whose monitor ports are at least 111
#                     apart never compete for ports.
#   S3_ACCESS_KEY / S3_SECRET_KEY   the S3 user's keys (default kiln-local / kiln-local-secret-key)
#   KILN_S3_TIMEOUT   seconds to wait for HTTP (default 90)
#   KILN_S3_BLOCK_GIB size of the OSD's sparse block file in GiB (default 24; only written bytes use disk)
#
# `start` is idempotent: a running instance that answers HTTP is left alone; stale pid files lead to a
# clean restart; a stopped cluster is restarted from its data (no mkfs), and only when that fails (or the
# monitor port changed) is the folder wiped and created anew. It writes <dir>/s3.env
# (S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION) for `set -a; . <dir>/s3.env; set +a`.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${KILN_S3_DIR:-$REPO/.kiln/s3}
PORT=${KILN_S3_PORT:-7480}
BIND=${KILN_S3_BIND:-127.0.0.1}
BUCKETS=${KILN_S3_BUCKETS:-}
HOST=$BIND # where this script (and s3.env) reaches the S3 port
[[ $BIND == 0.0.0.0 ]] && HOST=127.0.0.1
MON_PORT=${KILN_S3_MON_PORT:-6789}
ACCESS_KEY=${S3_ACCESS_KEY:-kiln-local}
SECRET_KEY=${S3_SECRET_KEY:-kiln-local-secret-key}
SECRET_KEY_GIVEN=${S3_SECRET_KEY:-}
TIMEOUT=${KILN_S3_TIMEOUT:-90}
REGION=us-east-1
RGW_UID=kiln
BLOCK_SIZE=$((${KILN_S3_BLOCK_GIB:-24} * 1024 * 1024 * 1024)) # sparse file: only written bytes use disk
OSD_PORT_MIN=$((MON_PORT + 11))
OSD_PORT_MAX=$((MON_PORT + 110))

CONF=$DIR/ceph.conf
RUN=$DIR/run
LOG=$DIR/log
ENV_FILE=$DIR/s3.env
READY=$RUN/ready # written by `run` once the start and the buckets are done
SETTINGS=$DIR/cluster.settings # what mkfs baked in (fsid, monitor port); a change means a new cluster
DAEMONS=(rgw osd mon)           # stop order; start order is the reverse

log() { printf '[s3-local] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

for v in PORT MON_PORT TIMEOUT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number (got '${!v}')"
done
[[ $BIND =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "KILN_S3_BIND must be an IPv4 address (got '$BIND')"
((MON_PORT + 110 <= 65535)) || die "KILN_S3_MON_PORT too high (needs MON_PORT+110 <= 65535)"
((PORT < OSD_PORT_MIN || PORT > OSD_PORT_MAX)) ||
  die "KILN_S3_PORT $PORT lies in the OSD port range $OSD_PORT_MIN-$OSD_PORT_MAX (from KILN_S3_MON_PORT)"

pid_file() {
  case $1 in
    mon) echo "$RUN/mon.a.pid" ;;
    osd) echo "$RUN/osd.0.pid" ;;
    rgw) echo "$RUN/client.rgw.a.pid" ;;
  esac
}

# A pid counts only when it is alive and its command line names our ceph.conf (pids get reused).
daemon_pid() {
  local f pid
  f=$(pid_file "$1")
  [[ -s $f ]] || return 1
  pid=$(tr -dc '0-9' <"$f")
  [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONF" || return 1
  echo "$pid"
}

http_ok() {
  # radosgw answers an anonymous GET / with 200 (empty bucket list).
  if command -v curl >/dev/null; then
    curl -s -o /dev/null -m 3 "http://$HOST:$PORT/" && return 0
    return 1
  fi
  local line
  exec 8<>"/dev/tcp/$HOST/$PORT" 2>/dev/null || return 1
  printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$HOST" >&8
  IFS= read -r -t 3 line <&8 || true
  exec 8<&- 8>&-
  [[ $line == HTTP/1.?' '* ]]
}

ceph_cli() { timeout 30 ceph -c "$CONF" --connect-timeout 20 "$@"; }

ensure_packages() {
  local missing=()
  for bin in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool; do
    command -v "$bin" >/dev/null || missing+=("$bin")
  done
  ((${#missing[@]} == 0)) && return 0
  log "missing ${missing[*]}: installing ceph-mon ceph-osd radosgw ceph-common from apt"
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    ceph-mon ceph-osd radosgw ceph-common
}

ceph_major() { ceph-osd --version | sed -n 's/^ceph version \([0-9]*\)\..*/\1/p'; }

check_versions() {
  local major
  major=$(ceph_major)
  [[ -n $major ]] || die "cannot read ceph version from '$(ceph-osd --version)'"
  # Run on 16 (pacific, Debian 12). Debian 13 ships a newer release (18, reef), where every option used
  # here still exists; that combination has not been run yet.
  if ((major < 16)); then
    die "ceph $major is too old (need 16+ for beast, 'ceph osd new' and v1 addrvecs)"
  elif ((major > 19)); then
    log "warning: ceph $major is newer than the versions this script was checked with (16-19)"
  fi
  log "using $(ceph-osd --version | cut -d' ' -f1-4)"
}

write_conf() {
  local fsid=$1
  cat >"$CONF" <<EOF
# Generated by scripts/s3-local.sh; rewritten on every start.
[global]
fsid = $fsid
mon host = [v1:127.0.0.1:$MON_PORT]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind port min = $OSD_PORT_MIN
ms bind port max = $OSD_PORT_MAX
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool delete = true
run dir = $RUN
log file = $LOG/\$name.log
keyring = $DIR/keyring
# Deleted S3 data is reclaimed after minutes instead of hours, so repeated test runs never fill the OSD.
rgw gc obj min wait = 10
rgw gc processor period = 10
# Only a test server: a host disk with little free space must not stop the monitor.
mon data avail warn = 2
mon data avail crit = 1

[mon]
mon data = $DIR/mon/\$name
admin socket = $RUN/\$name.asok
pid file = $RUN/\$name.pid

[osd]
osd data = $DIR/osd/\$name
osd objectstore = bluestore
bluestore block path = $DIR/\$name.block
bluestore block create = true
bluestore block size = $BLOCK_SIZE
osd memory target = 1073741824
# The OSD would place itself in CRUSH and set its device class with mon commands sent while its monitor
# client may still hold a zero fsid ('wrong fsid' -> the OSD exits, seen on 16.2); the script does both
# with the ceph CLI instead.
osd crush update on start = false
osd class update on start = false
admin socket = $RUN/\$name.asok
pid file = $RUN/\$name.pid

[client.rgw.a]
# tcp_nodelay: without it a small GET on a kept-alive connection waits ~40 ms (Nagle against the
# client's delayed ACK: headers and body go out as two writes), which dominated a small job's time.
rgw frontends = beast endpoint=$BIND:$PORT tcp_nodelay=1
rgw data = $DIR/rgw
admin socket = $RUN/\$name.asok
pid file = $RUN/\$name.pid
EOF
}

# Daemons fork into the background themselves; setsid also takes them out of our session so a caller
# that kills its process group (a test runner, a CI step) does not take the cluster down with it.
launch() {
  local name=$1
  shift
  setsid "$@" </dev/null >>"$LOG/$name.stdout" 2>&1 9>&-
}

wait_for() {
  local what=$1 secs=$2 deadline
  shift 2
  deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

osd_up() { ceph_cli osd dump 2>/dev/null | grep -q '^osd\.0 up'; }

# Starts osd.0 and waits until the monitor reports it up; relaunches it if it exits during start-up.
start_osd() {
  local attempt deadline
  for attempt in 1 2 3; do
    launch osd.0 ceph-osd -c "$CONF" -i 0 || return 1
    deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)); do
      osd_up && return 0
      if ! daemon_pid osd >/dev/null; then
        sleep 1 # the pid file appears after the fork; look twice before calling it dead
        daemon_pid osd >/dev/null || break
      fi
      sleep 0.5
    done
    log "osd.0 not up (attempt $attempt)"
    STOP_GRACE=5 stop_daemons osd
  done
  return 1
}

start_daemons() {
  launch mon.a ceph-mon -c "$CONF" -i a || return 1
  wait_for mon 30 ceph_cli mon stat || {
    log "monitor did not answer"
    return 1
  }
  start_osd || return 1
  launch client.rgw.a radosgw -c "$CONF" -n client.rgw.a || return 1
}

mkfs_cluster() {
  local fsid osd_uuid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  mkdir -p "$RUN" "$LOG" "$DIR/mon" "$DIR/osd/osd.0" "$DIR/rgw"
  write_conf "$fsid"
  ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$MON_PORT]" "$DIR/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring" >>"$LOG/mkfs.log" 2>&1
  launch mon.a ceph-mon -c "$CONF" -i a
  wait_for mon 30 ceph_cli mon stat || die "monitor did not answer after mkfs (see $LOG/mon.a.log)"
  local id
  id=$(ceph_cli osd new "$osd_uuid")
  [[ $id == 0 ]] || die "expected osd id 0, got '$id'"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$LOG/mkfs.log" 2>&1 ||
    die "ceph-osd --mkfs failed (see $LOG/mkfs.log)"
  ceph_cli osd crush add osd.0 1.0 root=default >/dev/null 2>&1
  start_osd || die "osd.0 did not come up (see $LOG/osd.0.log)"
  launch client.rgw.a radosgw -c "$CONF" -n client.rgw.a
  printf 'fsid=%s\nmon_port=%s\n' "$fsid" "$MON_PORT" >"$SETTINGS"
}

wait_http() {
  wait_for http "$TIMEOUT" http_ok && return 0
  log "radosgw did not answer on http://$HOST:$PORT/ within ${TIMEOUT}s; last log lines:"
  local f
  for f in "$LOG"/mon.a.log "$LOG"/osd.0.log "$LOG"/client.rgw.a.log "$LOG"/*.stdout; do
    [[ -s $f ]] || continue
    printf -- '--- %s\n' "$f" >&2
    grep -v "^\s*$" "$f" | tail -n 10 | cut -c1-300 >&2
  done
  return 1
}

ensure_user() {
  local out
  if out=$(timeout 60 radosgw-admin -c "$CONF" -n client.admin user info --uid="$RGW_UID" 2>/dev/null); then
    # Existing user: make sure the wanted key pair is present (keys may be overridden per start).
    if ! grep -qF "\"access_key\": \"$ACCESS_KEY\"" <<<"$out" || ! grep -qF "\"secret_key\": \"$SECRET_KEY\"" <<<"$out"; then
      timeout 60 radosgw-admin -c "$CONF" -n client.admin key create --uid="$RGW_UID" --key-type=s3 \
        --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
    fi
  else
    timeout 60 radosgw-admin -c "$CONF" -n client.admin user create --uid="$RGW_UID" \
      --display-name="Kiln local" --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
  fi
}

write_env() {
  cat >"$ENV_FILE.tmp" <<EOF
S3_ENDPOINT=http://$HOST:$PORT
S3_ACCESS_KEY=$ACCESS_KEY
S3_SECRET_KEY=$SECRET_KEY
S3_REGION=$REGION
EOF
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# Stops the given daemons (all by default) one after the other in DAEMONS order (gateway, OSD, monitor):
# SIGTERM, up to STOP_GRACE seconds (default 20) to exit, then SIGKILL.
stop_daemons() {
  local d pid deadline which=("$@")
  ((${#which[@]})) || which=("${DAEMONS[@]}")
  for d in "${DAEMONS[@]}"; do
    [[ " ${which[*]} " == *" $d "* ]] || continue
    if pid=$(daemon_pid "$d"); then
      kill -TERM "$pid" 2>/dev/null || true
      deadline=$((SECONDS + ${STOP_GRACE:-20}))
      while [[ -e /proc/$pid ]]; do
        if ((SECONDS >= deadline)); then
          log "$d (pid $pid) did not exit after SIGTERM; sending SIGKILL"
          kill -KILL "$pid" 2>/dev/null || true
          while [[ -e /proc/$pid ]]; do sleep 0.1; done
          break
        fi
        sleep 0.1
      done
    fi
    rm -f "$(pid_file "$d")"
  done
}

all_running() {
  local d
  for d in "${DAEMONS[@]}"; do daemon_pid "$d" >/dev/null || return 1; done
}

any_running() {
  local d
  for d in "${DAEMONS[@]}"; do daemon_pid "$d" >/dev/null && return 0; done
  return 1
}

wipe() {
  [[ -n $(ls -A "$DIR" 2>/dev/null | grep -v '^\.lock$') ]] && log "wiping $DIR"
  STOP_GRACE=5 stop_daemons
  # Empties the folder but keeps it: it may be a mount point (the container's volume) or belong to
  # another user than the one running this script.
  [[ -d $DIR ]] && find "$DIR" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} +
  return 0
}

port_busy() { (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; }

# A start that fails leaves no half-started daemons behind (their logs stay in $LOG).
stop_after_failed_start() {
  local rc=$?
  ((rc == 0)) && return 0
  log "start failed: stopping what was started (logs in $LOG)"
  STOP_GRACE=5 stop_daemons || true
  exit "$rc"
}

cmd_start() {
  local t0=$SECONDS started=no
  mkdir -p "$DIR"
  # One start at a time per folder (several test processes may call start at once).
  exec 9>"$DIR/.lock"
  flock -w 300 9 || die "another start holds $DIR/.lock"

  local conf_port=''
  [[ -s $CONF ]] && conf_port=$(sed -n "s/^rgw frontends = .*endpoint=${BIND//./\\.}:\([0-9]*\).*/\1/p" "$CONF")
  if all_running && [[ $conf_port == "$PORT" ]] && http_ok; then
    ensure_user
    write_env
    log "already running: http://$HOST:$PORT (data in $DIR)"
    return 0
  fi
  ensure_packages
  check_versions
  if any_running; then
    if [[ -n $conf_port && $conf_port != "$PORT" ]]; then
      log "running with another S3 address: restarting it on $BIND:$PORT"
    else
      log "stale or partial instance found: restarting it"
    fi
    STOP_GRACE=5 stop_daemons
  fi
  for d in "${DAEMONS[@]}"; do rm -f "$(pid_file "$d")"; done
  port_busy "$MON_PORT" && die "port $MON_PORT is taken by another process (set KILN_S3_MON_PORT)"
  port_busy "$PORT" "$HOST" && die "port $PORT is taken by another process (set KILN_S3_PORT)"
  trap stop_after_failed_start EXIT

  if [[ -s $SETTINGS && -d $DIR/mon/mon.a && -s $DIR/osd/osd.0/ready ]] &&
    grep -qx "mon_port=$MON_PORT" "$SETTINGS"; then
    log "restarting the existing cluster in $DIR"
    write_conf "$(sed -n 's/^fsid=//p' "$SETTINGS")"
    mkdir -p "$RUN" "$LOG" "$DIR/rgw"
    if start_daemons; then
      started=yes
    else
      # The monitor or the OSD cannot start from this data: it is local test data, start afresh.
      log "the existing cluster did not come up: recreating it"
    fi
  elif [[ -n $(ls -A "$DIR" 2>/dev/null | grep -v '^\.lock$') ]]; then
    log "data folder is incomplete or was made for another monitor port: recreating"
  fi
  if [[ $started == no ]]; then
    wipe
    mkdir -p "$DIR"
    exec 9>"$DIR/.lock"
    flock 9
    log "creating a new cluster in $DIR (mon 127.0.0.1:$MON_PORT, osd ports $OSD_PORT_MIN-$OSD_PORT_MAX, s3 $BIND:$PORT)"
    mkfs_cluster
  fi
  wait_http || die "radosgw did not answer"
  ensure_user
  write_env
  trap - EXIT
  log "radosgw answering on http://$BIND:$PORT after $((SECONDS - t0)) s (data in $DIR)"
}

cmd_stop() {
  [[ -d $DIR ]] || {
    log "nothing in $DIR"
    return 0
  }
  if any_running; then
    stop_daemons
    log "stopped"
  else
    for d in "${DAEMONS[@]}"; do rm -f "$(pid_file "$d")"; done
    log "not running"
  fi
}

cmd_status() {
  local d pid rc=0
  for d in mon osd rgw; do
    if pid=$(daemon_pid "$d"); then
      printf '%-4s running (pid %s)\n' "$d" "$pid"
    else
      printf '%-4s stopped\n' "$d"
      rc=1
    fi
  done
  if http_ok; then
    printf 'http answering on http://%s:%s\n' "$HOST" "$PORT"
  else
    printf 'http not answering on http://%s:%s\n' "$HOST" "$PORT"
    rc=1
  fi
  printf 'data %s\n' "$DIR"
  return $rc
}

# Creates each bucket of KILN_S3_BUCKETS that is missing, signed with the user's keys (curl's SigV4).
ensure_buckets() {
  local bucket code url
  [[ -n $BUCKETS ]] || return 0
  command -v curl >/dev/null || die "curl is needed to create the buckets in KILN_S3_BUCKETS"
  for bucket in ${BUCKETS//,/ }; do
    [[ $bucket =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || die "invalid bucket name '$bucket' in KILN_S3_BUCKETS"
    url="http://$HOST:$PORT/$bucket"
    code=$(curl -s -o /dev/null -w '%{http_code}' -m 30 -I --aws-sigv4 "aws:amz:$REGION:s3" \
      --user "$ACCESS_KEY:$SECRET_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$url") || code=000
    case $code in
      200) log "bucket $bucket exists" ;;
      404)
        curl -fsS -o /dev/null -m 30 -X PUT --aws-sigv4 "aws:amz:$REGION:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
          -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$url" || die "could not create bucket $bucket"
        log "bucket $bucket created"
        ;;
      *) die "bucket $bucket: HEAD answered $code" ;;
    esac
  done
}

# Foreground: start (as `start` does), create the buckets, mark ready, then stay until a signal
# (stop the daemons, exit 0) or until a daemon dies (stop the rest, exit 1: the container restarts).
cmd_run() {
  local stopping=no d
  if [[ ${KILN_S3_REQUIRE_SECRET:-} == true ]] && ((${#SECRET_KEY_GIVEN} < 16)); then
    die "S3_SECRET_KEY must be set (16+ characters)"
  fi
  trap 'stopping=yes' TERM INT # bash runs it once the command in progress returns
  rm -f "$READY"
  cmd_start
  exec 9>&- # the start lock is not held while serving
  ensure_buckets
  : >"$READY"
  log "serving S3 on http://$BIND:$PORT as access key $ACCESS_KEY (data in $DIR)"
  while [[ $stopping == no ]]; do
    for d in "${DAEMONS[@]}"; do
      if ! daemon_pid "$d" >/dev/null; then
        log "$d exited (see $LOG): stopping the rest"
        rm -f "$READY"
        STOP_GRACE=5 stop_daemons
        exit 1
      fi
    done
    # A short sleep in the background: the trap runs as soon as a signal arrives.
    sleep 2 &
    wait $! || true
  done
  log "signal received: stopping"
  rm -f "$READY"
  stop_daemons
  log "stopped"
}

cmd_ready() {
  [[ -e $READY ]] && all_running && http_ok
}

cmd_env() {
  [[ -s $ENV_FILE ]] || die "$ENV_FILE missing: run '$0 start' first"
  cat "$ENV_FILE"
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  run) cmd_run ;;
  ready) cmd_ready ;;
  *)
    echo "usage: $0 start|stop|status|env|run|ready" >&2
    exit 2
    ;;
esac
