#!/usr/bin/env bash
# image.sh NAME NODE_BINARY   build the base container NAME (once) that all hosts clone
# image.sh --list             list crm-base-* containers (complete or not)
# image.sh --prune KEEP_NAME  destroy every other crm-base-* container without clones
#
# The caller names the image from a hash of its recipe, so a changed recipe gets a new
# name and an existing complete image is never modified. Containers have no route to
# package mirrors: everything a host needs is installed here, chrooted, from the machine.
set -euo pipefail
LOG_TAG=image
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

MARKER=etc/crm-image-complete
PACKAGES=(systemd-sysv dbus iproute2 iputils-ping procps curl ca-certificates less tree
  psmisc nftables haproxy postgresql glusterfs-server glusterfs-client openssh-server
  nagios4 monitoring-plugins-basic apache2 nmap keepalived)
# apache2: nagios4-cgi only Recommends it, and the monitoring host cannot download it later.
# Units that make no sense in a container without network access to mirrors.
MASK=(systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer
  systemd-timesyncd.service)

is_complete() { [[ -f "$LXC_PATH/$1/rootfs/$MARKER" ]]; }

list() {
  local d n
  for d in "$LXC_PATH"/crm-base-*; do
    [[ -d "$d" ]] || continue
    n="${d##*/}"
    if is_complete "$n"; then echo "$n complete"; else echo "$n incomplete"; fi
  done
}

destroy_image() {
  require_crm_name "$1"
  umount_under "$LXC_PATH/$1"   # a crashed build may have left chroot binds
  if container_exists "$1"; then
    lxc-destroy -n "$1" >&2 || die "lxc-destroy $1 failed (does it still have clones?)"
  fi
  rm -rf "${LXC_PATH:?}/$1"
}

prune() {
  local keep="$1" n _
  while read -r n _; do
    [[ "$n" == "$keep" ]] && continue
    # lxc records overlay clones in lxc_snapshots; an image in use is kept.
    if [[ -s "$LXC_PATH/$n/lxc_snapshots" ]]; then log "keeping $n: it has clones"; continue; fi
    log "destroying old image $n"; destroy_image "$n"
  done < <(list)
}

# chroot_in ROOTFS CMD... with /proc, /sys and /dev available for maintainer scripts.
# quiet CMD... : long, chatty steps go to the build log; its tail is shown on failure.
quiet() {
  "$@" >>"$BUILD_LOG" 2>&1 || { local rc=$?; tail -n 40 "$BUILD_LOG" >&2; log "failed (rc $rc): $*; full log $BUILD_LOG"; return "$rc"; }
}

chroot_in() {
  local r="$1"; shift
  DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 chroot "$r" "$@"
}

build() {
  local name="$1" node="$2" rootfs release t0 t
  rootfs="$LXC_PATH/$name/rootfs"
  t0="$(date +%s.%N)"

  log "step 1/6 lxc-create -t debian (trixie; debootstrap cache in /var/cache/lxc)"
  release=trixie
  if ! quiet lxc-create -n "$name" -t debian -- -r trixie; then
    log "WARNING: trixie failed, falling back to bookworm"
    destroy_image "$name"; release=bookworm
    quiet lxc-create -n "$name" -t debian -- -r bookworm
  fi
  log "  rootfs ready after $(elapsed "$t0")s"

  log "step 2/6 chroot mounts, no service starts (policy-rc.d)"
  trap 'umount_under "$LXC_PATH/$name/rootfs"' EXIT
  mount -t proc proc "$rootfs/proc"
  mount -t sysfs sysfs "$rootfs/sys"
  mount --bind /dev "$rootfs/dev"
  mount --bind /dev/pts "$rootfs/dev/pts"
  cp --remove-destination /etc/resolv.conf "$rootfs/etc/resolv.conf"
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$rootfs/usr/sbin/policy-rc.d"

  log "step 3/6 apt-get install ${#PACKAGES[@]} packages (long)"
  t="$(date +%s.%N)"
  quiet chroot_in "$rootfs" apt-get update
  quiet chroot_in "$rootfs" apt-get install -y --no-install-recommends "${PACKAGES[@]}"
  # Addresses come from the LXC config: no DHCP client, no ifupdown.
  quiet chroot_in "$rootfs" apt-get purge -y ifupdown isc-dhcp-client isc-dhcp-common || true
  chroot_in "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/*
  log "  packages installed in $(elapsed "$t")s"

  log "step 4/6 node runtime"
  install -m 755 "$(readlink -f "$node")" "$rootfs/usr/local/bin/node"
  chroot_in "$rootfs" /usr/local/bin/node --version >&2

  log "step 5/6 disable services, mask container-irrelevant units"
  # Each host enables only what its role needs later. Keep the boot essentials.
  local u
  while read -r u _; do
    case "$u" in
      getty@*|console-getty*|systemd-*|dbus*|remote-fs.target|e2scrub*|fstrim*|sshd-keygen*) ;;
      *) log "  disable $u"; quiet chroot_in "$rootfs" systemctl disable "$u" || true ;;
    esac
  done < <(chroot_in "$rootfs" systemctl list-unit-files --state=enabled --no-legend --no-pager)
  quiet chroot_in "$rootfs" systemctl mask "${MASK[@]}" || true
  # Clones must not share SSH host keys: sshd-keygen (WantedBy=ssh.service) makes any
  # missing key whenever ssh starts, not only on a first boot. (host.sh gives each
  # clone its own machine-id; a "first boot" would re-apply presets and re-enable all.)
  rm -f "$rootfs"/etc/ssh/ssh_host_*
  ln -sf /etc/machine-id "$rootfs/var/lib/dbus/machine-id"
  mkdir -p "$rootfs/etc/systemd/system/sshd-keygen.service.d"
  printf '[Unit]\nConditionFirstBoot=\n' >"$rootfs/etc/systemd/system/sshd-keygen.service.d/crm.conf"
  printf 'auto lo\niface lo inet loopback\n' >"$rootfs/etc/network/interfaces" 2>/dev/null || true
  : >"$rootfs/etc/resolv.conf"   # no DNS inside the scenario
  rm -f "$rootfs/usr/sbin/policy-rc.d"
  umount_under "$rootfs"; trap - EXIT

  log "step 6/6 config + completion marker"
  # The image itself never starts; its config only matters as clone source.
  sed -i '/^lxc\.net\./d; s/^lxc\.apparmor\.profile.*/lxc.apparmor.profile = unconfined/' \
    "$LXC_PATH/$name/config"
  echo "$name $release built $(date -u +%FT%TZ)" >"$rootfs/$MARKER"   # written last
  log "built $name ($release) in $(elapsed "$t0")s, size $(du -sh "$rootfs" | cut -f1)"
}

case "${1:-}" in
  --list) list ;;
  --prune) [[ -n "${2:-}" ]] || die "usage: image.sh --prune KEEP_NAME"; prune "$2" ;;
  ""|-h|--help) sed -n '2,4p' "$0" | sed 's/^# //'; [[ -n "${1:-}" ]] ;;
  *)
    name="$1"; node="${2:-}"
    [[ "$name" == crm-base-* ]] || die "image name must start with crm-base-"
    [[ -x "$node" ]] || die "usage: image.sh NAME NODE_BINARY (node binary '$node' not executable)"
    ensure_host_pkgs
    # One builder per image name, even when several callers start at once.
    mkdir -p /run/lock /var/log/crm-vnx
    exec 9>"/run/lock/$name.lock"; flock 9
    BUILD_LOG="/var/log/crm-vnx/image-$name.log"
    if is_complete "$name"; then log "$name is complete, nothing to do"; exit 0; fi
    : >"$BUILD_LOG"; log "build log: $BUILD_LOG"
    if [[ -e "$LXC_PATH/$name" ]]; then log "$name is half-built: destroying it"; destroy_image "$name"; fi
    build "$name" "$node"
    ;;
esac
