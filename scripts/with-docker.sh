#!/usr/bin/env bash
# Runs a command with a real Docker engine running on this machine, as many users' machines have
# one: Debian's docker.io (installed if missing), dockerd started here and, afterwards, stopped by
# its PID, with the machine's firewall tables, forwarding policy, sysctls and links put back as
# they were found. A dockerd that was already running is used as it is and left running.
#   scripts/with-docker.sh CMD [ARG...]
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CRM_LOG_TAG=docker
(($#)) || crm_die "usage: scripts/with-docker.sh CMD [ARG...]"
[[ $(id -u) == 0 ]] || crm_die "run as root: it starts dockerd"
crm_apt docker.io

if docker info >/dev/null 2>&1; then
  crm_log "a Docker engine is already running: using it"
  exec "$@"
fi

saved=$(mktemp -d)
iptables-save >"$saved/iptables"
ip6tables-save >"$saved/ip6tables"
ip -o link show | awk -F': ' '{ print $2 }' | sed 's/@.*//' | sort >"$saved/links"
sysctl -n net.ipv4.ip_forward >"$saved/ip_forward"
grep -q '^br_netfilter ' /proc/modules && touch "$saved/br_netfilter"
[[ -f /proc/sys/net/bridge/bridge-nf-call-iptables ]] && sysctl -n net.bridge.bridge-nf-call-iptables >"$saved/bridge-nf"

dockerd --pidfile /run/crm-dockerd.pid >/var/log/crm-dockerd.log 2>&1 &
pid=$!
restore() {
  crm_log "stopping dockerd (pid $pid) and restoring the machine's network settings"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  # Tables Docker added (nat …) go (emptied, where iptables is the legacy kind); the ones the
  # machine had are restored whole.
  local bin family table
  for bin in iptables ip6tables; do
    family=ip && [[ $bin == ip6tables ]] && family=ip6
    for table in $("$bin-save" | awk '/^\*/ { print substr($1, 2) }'); do
      grep -qx "\*$table" "$saved/$bin" && continue
      if [[ $("$bin" -V) == *nf_tables* ]]; then nft delete table "$family" "$table"; else "$bin" -t "$table" -F && "$bin" -t "$table" -X; fi
    done
    "$bin-restore" <"$saved/$bin"
  done
  local link
  for link in $(ip -o link show | awk -F': ' '{ print $2 }' | sed 's/@.*//' | sort | comm -13 "$saved/links" -); do
    # crmd-*: the docker stack's bridges (targets/docker), should a run have stopped before its teardown.
    case "$link" in docker0 | br-* | veth* | crmd-*) ip link del "$link" 2>/dev/null || true ;; esac
  done
  sysctl -qw net.ipv4.ip_forward="$(cat "$saved/ip_forward")"
  if [[ -f $saved/bridge-nf ]]; then
    sysctl -qw net.bridge.bridge-nf-call-iptables="$(cat "$saved/bridge-nf")"
  elif [[ ! -f $saved/br_netfilter ]]; then
    modprobe -r br_netfilter 2>/dev/null || true
  fi
  rm -rf "$saved"
}
trap restore EXIT
for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; kill -0 "$pid" 2>/dev/null || crm_die "dockerd exited; see /var/log/crm-dockerd.log"; sleep 0.5; done
docker info >/dev/null 2>&1 || crm_die "dockerd did not answer within 60 s; see /var/log/crm-dockerd.log"
crm_log "dockerd running (pid $pid): FORWARD policy $(iptables -S FORWARD | awk '$1 == "-P" { print $3 }')"
"$@"
