#!/usr/bin/env bash
# release.sh SERVER BUNDLE_DIR RELEASE [--balancer LB]... [--backend BACKEND/SERVER] --health URL --timeout SECONDS [--uploads DIR]
#
# Puts the app bundle BUNDLE_DIR on app server container SERVER as release RELEASE, health-gated:
#   /opt/crm-releases/RELEASE holds the files; /opt/crm (what crm.service runs) is a symlink to
#   the current release, switched atomically; the previous release is kept for a rollback.
# On a server whose app already runs: drain it from the load balancers (HAProxy's admin socket on
# each container LB; two with crm:frontHa, and only the one holding the service address gets
# traffic), switch, restart, wait until URL answers 200 from inside the server and every balancer
# sees it UP again, then put it back in rotation. If it does not become healthy within
# SECONDS: switch back to the previous release, restart it, put it back, and fail with the health
# answer and the last lines of the app's log. On a new server it only installs the release (the
# role starts the app). Running it again with the release in place changes nothing.
# URL is http://… (200 = healthy) or tcp://HOST:PORT (a connect = healthy). --uploads DIR: the
# app writes uploads to DIR inside its folder (e.g. public/uploads); each release links it to the
# shared volume.
set -euo pipefail
LOG_TAG=release
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

usage() { sed -n '2p' "$0" | sed 's/^# //' >&2; exit 2; }
(($# >= 3)) || usage
SERVER="$1" BUNDLE="$2" RELEASE="$3"; shift 3
LBS=() BACKEND="" HEALTH="" TIMEOUT=90 UPLOADS=""
while (($#)); do
  case "$1" in
    --balancer) LBS+=("${2:?}"); shift 2 ;;
    --backend) BACKEND="${2:?}"; shift 2 ;;
    --health) HEALTH="${2:?}"; shift 2 ;;
    --timeout) TIMEOUT="${2:?}"; shift 2 ;;
    --uploads) UPLOADS="${2:?}"; shift 2 ;;
    *) usage ;;
  esac
done
require_crm_name "$SERVER"
[[ "$RELEASE" =~ ^[A-Za-z0-9._-]+$ ]] || die "bad release name '$RELEASE'"
[[ -n "$HEALTH" ]] || usage
[[ -d "$BUNDLE" ]] || die "no app bundle at $BUNDLE"
[[ "$(cat "$BUNDLE/.crm-release" 2>/dev/null)" == "$RELEASE" ]] ||
  die "the bundle in $BUNDLE is not release $RELEASE (another stack rebuilt it?): run pulumi up --refresh"
[[ -z "$UPLOADS" || ( "$UPLOADS" != /* && "$UPLOADS" != *..* ) ]] || die "bad --uploads '$UPLOADS': a folder inside the app"
NAME="${SERVER#"$CRM_PREFIX"}"

on_server() { lxc-attach -n "$SERVER" --clear-env -- sh -c "$1"; }

# haproxy_api LB COMMAND : HAProxy's runtime API on balancer LB's admin socket (perl is essential on Debian).
haproxy_api() {
  lxc-attach -n "$1" --clear-env -- perl -MIO::Socket::UNIX -e '
    my $s = IO::Socket::UNIX->new(Peer => "/run/haproxy/admin.sock") or die "haproxy admin socket: $!\n";
    print $s "$ARGV[0]\n"; print while <$s>;' "$2"
}
balancer_ready() {   # balancer_ready LB : true when LB is there to drain from
  [[ -n "$BACKEND" ]] && container_running "$1" && haproxy_api "$1" "show info" >/dev/null 2>&1
}
# stat LB FIELD : one field of the server's line in LB's `show stat` (5: sessions now, 18: UP, DOWN, DRAIN …).
stat() {
  haproxy_api "$1" "show stat" | awk -F, -v b="${BACKEND%/*}" -v s="${BACKEND#*/}" -v f="$2" '$1 == b && $2 == s { print $f }'
}

current_release() { on_server 'readlink /opt/crm 2>/dev/null || true' | sed 's#^/opt/crm-releases/##'; }

install_release() {
  log "$NAME: copying release $RELEASE"
  tar -C "$BUNDLE" -c . | on_server "set -e
    rm -rf /opt/crm-releases/$RELEASE.new && mkdir -p /opt/crm-releases/$RELEASE.new
    tar -C /opt/crm-releases/$RELEASE.new -x
    if [ -n '$UPLOADS' ]; then
      rm -rf '/opt/crm-releases/$RELEASE.new/$UPLOADS'; mkdir -p \"\$(dirname '/opt/crm-releases/$RELEASE.new/$UPLOADS')\"
      ln -s /mnt/nas/uploads '/opt/crm-releases/$RELEASE.new/$UPLOADS'
    fi
    rm -rf /opt/crm-releases/$RELEASE && mv /opt/crm-releases/$RELEASE.new /opt/crm-releases/$RELEASE"
}

# switch_to RELEASE : /opt/crm points to it, atomically (a directory left by an older layout is kept as a release).
switch_to() {
  on_server "set -e
    if [ -d /opt/crm ] && [ ! -L /opt/crm ]; then mv /opt/crm /opt/crm-releases/before-releases; ln -s /opt/crm-releases/before-releases /opt/crm; fi
    ln -sfn /opt/crm-releases/$1 /opt/crm.next && mv -T /opt/crm.next /opt/crm"
}

# Keeps the current and the previous release, removes older ones.
prune() {
  on_server "cd /opt/crm-releases && for r in *; do case \"\$r\" in '$1'|'$2') ;; *) rm -rf -- \"\$r\" ;; esac; done"
}

healthy() {
  case "$HEALTH" in
    tcp://*) local at="${HEALTH#tcp://}"; on_server "timeout 2 bash -c 'exec 3<>/dev/tcp/${at%:*}/${at##*:}'" 2>/dev/null ;;
    *) on_server "curl -fs -o /dev/null --max-time 2 '$HEALTH'" 2>/dev/null ;;
  esac
}

# wait_healthy : the app answers 200 and the balancer (when there is one) sees it UP.
wait_healthy() {
  local deadline=$((SECONDS + TIMEOUT))
  until healthy; do ((SECONDS < deadline)) || return 1; sleep 0.5; done
  local lb
  for lb in "${drained[@]}"; do
    haproxy_api "$lb" "set server $BACKEND state ready" >/dev/null
    until [[ "$(stat "$lb" 18)" == UP* ]]; do ((SECONDS < deadline)) || return 1; sleep 0.3; done
  done
}

t0="$(date +%s.%N)"
previous="$(current_release)"
if [[ "$previous" == "$RELEASE" ]] && on_server 'systemctl is-active --quiet crm.service' && healthy; then
  log "$NAME: release $RELEASE in place and healthy"; exit 0
fi
install_release
if ! on_server 'systemctl cat crm.service >/dev/null 2>&1'; then
  # A new server: the role installs and starts the app.
  switch_to "$RELEASE"; log "$NAME: release $RELEASE installed"; exit 0
fi

drained=()
for lb in "${LBS[@]}"; do
  if balancer_ready "$lb" && haproxy_api "$lb" "set server $BACKEND state drain" >/dev/null; then drained+=("$lb"); fi
done
# Requests in flight on it finish (the app also drains on SIGTERM).
for lb in "${drained[@]}"; do
  for _ in $(seq 20); do [[ "$(stat "$lb" 5)" == 0 ]] && break; sleep 0.2; done
done
((${#drained[@]} > 0)) || log "$NAME: no balancer to drain from; restarting in place"
switch_to "$RELEASE"
on_server 'systemctl restart crm.service'
if wait_healthy; then
  prune "$RELEASE" "${previous:-$RELEASE}"
  log "$NAME: release $RELEASE healthy and in rotation after $(elapsed "$t0")s (previous: ${previous:-none})"
  exit 0
fi

case "$HEALTH" in
  tcp://*) answer="no connection" ;;
  *) answer="$(on_server "curl -sS -o /dev/stderr -w ' (HTTP %{http_code})' --max-time 2 '$HEALTH' 2>&1" | tail -c 300 || true)" ;;
esac
journal="$(on_server 'journalctl -u crm.service -n 15 --no-pager -o cat 2>&1' || true)"
if [[ -n "$previous" && "$previous" != "$RELEASE" ]]; then
  log "$NAME: release $RELEASE unhealthy; back to $previous"
  switch_to "$previous"
  on_server 'systemctl restart crm.service'
  wait_healthy || log "$NAME: the previous release $previous is not healthy either"
fi
die "app server $NAME: release $RELEASE did not become healthy within ${TIMEOUT}s (health check $HEALTH answered: ${answer:-nothing}); it is back on ${previous:-nothing}, and the servers after it were not touched. Last lines of the app's log:
$journal"
