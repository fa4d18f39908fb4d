#!/usr/bin/env bash
# substrate.sh: the LXC side of the cloud rehearsal (test/rehearsal/clouds.test.ts). Everything it
# makes is named rh-* (containers, bridges) or labelled crm-rehearsal (bridge aliases, iptables
# comments), and `cleanup` removes exactly that. Never the vnx scenario's crm-* names.
#   substrate.sh guard CIDR...            unreachable routes (metric 4002): these ranges never leave
#   substrate.sh bridges BRIDGE...        rh-* bridges, no address of the machine on them
#   substrate.sh start NAME IMAGE SPEC    a container from image IMAGE, as described by directory SPEC:
#       nics      lines "BRIDGE ADDRESS/PREFIX [GATEWAY]" (the NIC inside is named like its bridge)
#       netns     lines of `ip` arguments run in the container's network namespace before it boots
#       nft       an nftables ruleset loaded there before it boots (its security group, its ACLs)
#       disk      a device path inside the container, backed by a fresh 2 GiB loop device
#       fuse      (empty file) /dev/fuse inside;  forward (empty file) the container routes
#       files/    a tree copied into the container's root before it boots (seed, configurations)
#   substrate.sh nft NAME                 nft commands from stdin, in the container's network namespace
#   substrate.sh cleanup                  removes every container, bridge, loop device and rule above
#   substrate.sh unguard                  removes the routes of `guard`
set -euo pipefail
export LOG_TAG=rehearsal
SELF="$(readlink -f "$0")"
# shellcheck source=../../targets/vnx/scripts/lib.sh
. "$(dirname "$SELF")/../../targets/vnx/scripts/lib.sh"

LABEL=crm-rehearsal
GUARD_METRIC=4002
RULE=(-i 'rh-+' -o 'rh-+' -m comment --comment "$LABEL" -j ACCEPT)

require_rh_name() {
  [[ "$1" =~ ^rh-[a-z0-9-]+$ && "$1" != rh-image-* ]] || die "refusing to touch '$1': not a rehearsal container"
}

guard() {
  local cidr
  for cidr in "$@"; do ip route replace unreachable "$cidr" metric "$GUARD_METRIC"; done
}

# Docker's FORWARD DROP with br_netfilter would drop frames bridged between two containers (as network.sh says).
forward_rules() {
  local op=$1 b chain
  for b in iptables ip6tables; do
    command -v "$b" >/dev/null && "$b" -S FORWARD >/dev/null 2>&1 || continue
    for chain in DOCKER-USER FORWARD; do
      "$b" -S "$chain" >/dev/null 2>&1 || continue
      if [[ $op == add ]]; then
        "$b" -C "$chain" "${RULE[@]}" 2>/dev/null || "$b" -I "$chain" 1 "${RULE[@]}"
      else
        while "$b" -C "$chain" "${RULE[@]}" 2>/dev/null; do "$b" -D "$chain" "${RULE[@]}"; done
      fi
    done
  done
}

bridges() {
  local br
  for br in "$@"; do
    [[ "$br" =~ ^rh-[a-z0-9-]{1,12}$ ]] || die "bad bridge name '$br'"
    if ip link show dev "$br" >/dev/null 2>&1; then
      [[ "$(cat "/sys/class/net/$br/ifalias" 2>/dev/null)" == "$LABEL" ]] || die "link $br exists and is not the rehearsal's"
    else
      ip link add "$br" type bridge
    fi
    ip link set dev "$br" alias "$LABEL"
    ip link set "$br" type bridge stp_state 0 forward_delay 0
    ip link set "$br" up
  done
  forward_rules add
}

cgroup_allow() {
  if [[ -d /sys/fs/cgroup/devices ]]; then echo "lxc.cgroup.devices.allow = $1"; else echo "lxc.cgroup2.devices.allow = $1"; fi
}

render_config() {
  local name=$1 image=$2 spec=$3 i=0 br addr gw
  cat <<CFG
# Written by crm-infra test/rehearsal/substrate.sh
lxc.include = /usr/share/lxc/config/debian.common.conf
lxc.arch = amd64
lxc.rootfs.path = overlay:$LXC_PATH/$image/rootfs:$LXC_PATH/$name/delta
lxc.uts.name = ${name#rh-*-}
lxc.apparmor.profile = unconfined
lxc.tty.max = 4
lxc.pty.max = 1024
lxc.log.file = $LXC_PATH/$name/lxc.log
lxc.log.level = WARN
lxc.hook.start-host = $SELF hook
CFG
  while read -r br addr gw; do
    [[ -n "$br" ]] || continue
    cat <<CFG
lxc.net.$i.type = veth
lxc.net.$i.link = $br
lxc.net.$i.flags = up
lxc.net.$i.name = $br
lxc.net.$i.ipv4.address = $addr
CFG
    [[ -z "${gw:-}" ]] || echo "lxc.net.$i.ipv4.gateway = $gw"
    i=$((i + 1))
  done <"$spec/nics"
  [[ ! -f "$spec/forward" ]] || echo "lxc.sysctl.net.ipv4.ip_forward = 1"
  if [[ -f "$spec/fuse" ]]; then
    echo "lxc.mount.entry = /dev/fuse dev/fuse none bind,create=file 0 0"
    cgroup_allow "c 10:229 rwm"
  fi
  if [[ -f "$LXC_PATH/$name/rh-loop" ]]; then
    local loop minor
    loop="$(cat "$LXC_PATH/$name/rh-loop")"
    minor=$((16#$(stat -c %T "$loop")))
    echo "lxc.mount.entry = $loop $(sed 's|^/||' "$spec/disk") none bind,create=file 0 0"
    # Also under its own name: mount finds a filesystem by UUID= through /proc/partitions (no udev here).
    echo "lxc.mount.entry = $loop ${loop#/} none bind,create=file 0 0"
    cgroup_allow "b 7:$minor rwm"
  fi
}

start() {
  local name=$1 image=$2 spec=$3 dir
  require_rh_name "$name"
  [[ -f "$LXC_PATH/$image/rootfs/etc/rh-image-complete" ]] || die "image $image missing or incomplete"
  dir="$LXC_PATH/$name"
  [[ ! -e "$dir" ]] || die "$name exists already (run cleanup)"
  mkdir -p "$dir/delta"
  if [[ -f "$spec/disk" ]]; then
    truncate -s 2G "$dir/disk.img"
    losetup -f --show "$dir/disk.img" >"$dir/rh-loop"
  fi
  render_config "$name" "$image" "$spec" >"$dir/config"
  [[ ! -f "$spec/nft" ]] || cp "$spec/nft" "$dir/rh.nft"
  [[ ! -f "$spec/netns" ]] || cp "$spec/netns" "$dir/rh.netns"
  [[ ! -d "$spec/files" ]] || cp -a "$spec/files/." "$dir/delta/"
  # Its own machine-id (journal, D-Bus), not a first boot (which would re-enable every unit).
  mkdir -p "$dir/delta/etc"
  tr -d '-' </proc/sys/kernel/random/uuid >"$dir/delta/etc/machine-id"
  lxc-start -n "$name" || die "lxc-start $name failed; see $dir/lxc.log"
}

# LXC's start-host hook: the container's network exists, its init has not started.
hook() {
  local name=$1 dir line
  dir="$LXC_PATH/$name"
  if [[ -f "$dir/rh.netns" ]]; then
    while read -r -a line; do
      ((${#line[@]})) && nsenter -t "$LXC_PID" -n ip "${line[@]}"
    done <"$dir/rh.netns"
  fi
  [[ ! -f "$dir/rh.nft" ]] || nsenter -t "$LXC_PID" -n nft -f "$dir/rh.nft"
}

nft_in() {
  local pid
  require_rh_name "$1"
  pid="$(lxc-info -n "$1" -pH)"
  [[ -n "$pid" ]] || die "$1 is not running"
  nsenter -t "$pid" -n nft -f -
}

destroy() {
  local name=$1 dir
  require_rh_name "$name"
  dir="$LXC_PATH/$name"
  if [[ -f "$dir/config" ]] && [[ "$(lxc-info -n "$name" -sH 2>/dev/null)" != STOPPED ]]; then
    lxc-stop -n "$name" -k >/dev/null 2>&1 || true
  fi
  if [[ -f "$dir/rh-loop" ]]; then losetup -d "$(cat "$dir/rh-loop")" 2>/dev/null || true; fi
  umount_under "$dir"
  rm -rf "${dir:?}"
}

cleanup() {
  local d n br
  for d in "$LXC_PATH"/rh-*; do
    [[ -d "$d" ]] || continue
    n="${d##*/}"
    [[ "$n" == rh-image-* ]] && continue
    destroy "$n"
  done
  while read -r br; do
    [[ "$(cat "/sys/class/net/$br/ifalias" 2>/dev/null)" == "$LABEL" ]] && ip link del "$br"
  done < <(ip -o link show type bridge | awk -F': ' '{print $2}' | grep '^rh-' || true)
  forward_rules del
}

unguard() {
  local cidr
  while read -r cidr; do
    [[ -n "$cidr" ]] && ip route del unreachable "$cidr" metric "$GUARD_METRIC"
  done < <(ip route show type unreachable | awk -v m="$GUARD_METRIC" '$0 ~ "metric " m "( |$)" {print $2}')
  return 0
}

case "${1:-}" in
  guard) shift; guard "$@" ;;
  bridges) shift; bridges "$@" ;;
  start) (($# == 4)) || die "usage: substrate.sh start NAME IMAGE SPEC"; start "$2" "$3" "$4" ;;
  hook) hook "$2" ;;
  nft) nft_in "$2" ;;
  cleanup) cleanup ;;
  unguard) unguard ;;
  *) sed -n '2,17p' "$SELF" | sed 's/^# //' >&2; exit 2 ;;
esac
