# shellcheck shell=bash
# Shared helpers for the vnx target scripts (network.sh, image.sh, host.sh).
# Sourced, never executed. Callers set LOG_TAG before sourcing.

LXC_PATH="$(lxc-config lxc.lxcpath 2>/dev/null || echo /var/lib/lxc)"
# Every container and bridge this target owns carries this prefix; nothing
# else on the machine is ever stopped, destroyed or deleted.
CRM_PREFIX="crm-"

log() { printf '[%s] %s\n' "${LOG_TAG:-vnx}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ensure_pkgs PKG... : install missing Debian packages on the machine.
# Idempotent: dpkg -s first; apt-get update only when an install fails
# (a fresh machine may have no package lists yet).
ensure_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  log "installing host packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y "${missing[@]}" >&2 ||
    { apt-get update >&2 && apt-get install -y "${missing[@]}" >&2; }
}

# Everything the vnx scripts call on the machine (distro-info: the lxc debian template).
HOST_PKGS=(lxc debootstrap distro-info rsync iproute2 iptables nftables nmap)
ensure_host_pkgs() { ensure_pkgs "${HOST_PKGS[@]}"; }

# require_crm_name NAME : refuse to act on anything we do not own.
require_crm_name() {
  [[ "$1" == "${CRM_PREFIX}"* ]] || die "refusing to touch '$1': name must start with ${CRM_PREFIX}"
  [[ "$1" =~ ^[A-Za-z0-9._-]+$ ]] || die "bad container name '$1'"
}

container_exists() { [[ -f "$LXC_PATH/$1/config" ]]; }
container_running() { [[ "$(lxc-info -n "$1" -sH 2>/dev/null)" == RUNNING ]]; }

# mounts_under DIR : mount points at or below DIR (deepest first). Used to
# unmount chroot binds before anything is deleted: rm -rf through a bind
# mount of /dev would be a disaster.
mounts_under() {
  local d
  d="$(realpath -m "$1")"
  awk -v d="$d" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

umount_under() {
  local m
  while read -r m; do
    [[ -n "$m" ]] && umount -l "$m"
  done < <(mounts_under "$1")
  [[ -z "$(mounts_under "$1")" ]] || die "still mounted under $1"
}

# elapsed START : seconds since START (from `date +%s.%N`), one decimal.
elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

# with_lock CMD... : serialise short LXC bookkeeping (lxc-copy, lxc-destroy, the base
# image's lxc_snapshots list) between scripts that Pulumi runs in parallel.
with_lock() {
  mkdir -p /run/lock
  ( flock 9 && "$@" ) 9>/run/lock/crm-vnx-lxc.lock
}
