#!/usr/bin/env bash
# host.sh create NAME IMAGE [--hostname H] [--fuse] [--nic LAN=ADDR/PREFIX]... [--route CIDR=VIA]...
# host.sh destroy NAME
# host.sh wait NAME
# host.sh probe NAME     prints absent, or running|stopped and a hash of the container's config
# host.sh check NAME SH   prints absent or stopped, or what shell SH prints inside NAME
#
# One scenario host = one privileged LXC container, an overlayfs snapshot clone of the
# base image IMAGE (see image.sh). LAN is lan1..lan4 (bridge crmlan1..4, see network.sh).
# NICs are eth0, eth1, ... in --nic order, with static addresses and NO default route:
# nothing inside the scenario can reach beyond it. --hostname defaults to NAME minus crm-.
# create is idempotent: same arguments -> ensure running; different -> destroy + recreate.
# Ownership: with CRM_OWNER set (the Pulumi program sets it to project/stack), a container is
# recorded as that owner's, and a container of the same name that is not (another stack's, or
# one this project did not make) is never changed or destroyed. CRM_OPERATION=update means
# Pulumi's state already holds this container: one made before owners were recorded is adopted.
set -euo pipefail
LOG_TAG=host
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

WAIT_TIMEOUT="${CRM_WAIT_TIMEOUT:-60}"
STOP_TIMEOUT="${CRM_STOP_TIMEOUT:-15}"

usage() { sed -n '2,6p' "$0" | sed 's/^# //' >&2; exit 2; }

owner_file() { echo "$LXC_PATH/$1/crm-owner"; }

# check_owner NAME : dies unless the existing container NAME may be managed as CRM_OWNER's.
check_owner() {
  local name="$1" file recorded=""
  [[ -n "${CRM_OWNER:-}" ]] || return 0   # run by hand: the operator decides
  file="$(owner_file "$name")"
  [[ -f "$file" ]] && recorded="$(cat "$file")"
  [[ "$recorded" == "$CRM_OWNER" ]] && return 0
  if [[ -z "$recorded" && "${CRM_OPERATION:-}" == update ]] && grep -q '^# Written by crm-infra' "$LXC_PATH/$name/config"; then
    log "$name: adopting it for $CRM_OWNER (made before owners were recorded)"
    echo "$CRM_OWNER" >"$file"; return 0
  fi
  die "container $name exists but does not belong to $CRM_OWNER (owner: ${recorded:-none recorded, not made by this stack}). If it is a leftover, remove it with: lxc-stop -k -n $name; lxc-destroy -n $name"
}

probe() {
  local name="$1" state
  require_crm_name "$name"
  if ! container_exists "$name"; then echo absent; return 0; fi
  if container_running "$name"; then state=running; else state=stopped; fi
  echo "$state config=$(sha256sum "$LXC_PATH/$name/config" | cut -c1-12)"
}

# render_config NAME IMAGE HOSTNAME FUSE NICS ROUTES : the complete LXC config. It also
# records image and routes in comments, so comparing files compares all arguments.
render_config() {
  local name="$1" image="$2" hn="$3" fuse="$4" nics="$5" routes="$6" i=0 nic lan addr
  cat <<CFG
# Written by crm-infra targets/vnx/scripts/host.sh; replaced when its arguments change.
# crm-image = $image
# crm-routes = $routes
lxc.include = /usr/share/lxc/config/debian.common.conf
lxc.arch = amd64
lxc.rootfs.path = overlay:$LXC_PATH/$image/rootfs:$LXC_PATH/$name/overlay/delta
lxc.uts.name = $hn
lxc.apparmor.profile = unconfined
lxc.tty.max = 4
lxc.pty.max = 1024
lxc.log.file = $LXC_PATH/$name/lxc.log
lxc.log.level = WARN
CFG
  for nic in $nics; do
    lan="${nic%%=*}"; addr="${nic#*=}"
    local ip="${addr%/*}" o1 o2 o3 o4
    IFS=. read -r o1 o2 o3 o4 <<<"$ip"
    cat <<CFG
lxc.net.$i.type = veth
lxc.net.$i.link = crm${lan#crm}
lxc.net.$i.flags = up
lxc.net.$i.name = eth$i
lxc.net.$i.ipv4.address = $addr
$(printf 'lxc.net.%d.hwaddr = 02:00:%02x:%02x:%02x:%02x' "$i" "$o1" "$o2" "$o3" "$o4")
CFG
    i=$((i + 1))
  done
  if [[ "$fuse" == 1 ]]; then
    # GlusterFS clients mount over FUSE. This machine's cgroup version decides the key.
    echo "lxc.mount.entry = /dev/fuse dev/fuse none bind,create=file 0 0"
    if [[ -d /sys/fs/cgroup/devices ]]; then
      echo "lxc.cgroup.devices.allow = c 10:229 rwm"
    else
      echo "lxc.cgroup2.devices.allow = c 10:229 rwm"
    fi
  fi
}

# Oneshot unit: addresses come from LXC before init runs; routes are re-added on every boot.
render_routes_unit() {
  local r
  printf '[Unit]\nDescription=crm-infra static routes\nAfter=network.target\n\n'
  printf '[Service]\nType=oneshot\nRemainAfterExit=yes\n'
  for r in $1; do printf 'ExecStart=/usr/sbin/ip route replace %s via %s\n' "${r%%=*}" "${r#*=}"; done
  printf '\n[Install]\nWantedBy=multi-user.target\n'
}

wait_systemd() {
  local name="$1" deadline state=""
  deadline=$(($(date +%s) + WAIT_TIMEOUT))
  while (($(date +%s) < deadline)); do
    if container_running "$name"; then
      state="$(timeout $((deadline - $(date +%s) + 1)) \
        lxc-attach -n "$name" -- systemctl is-system-running --wait 2>/dev/null || true)"
      case "$state" in
        running) return 0 ;;
        degraded)
          log "$name is up but degraded: $(lxc-attach -n "$name" -- systemctl --failed --no-legend --plain | awk '{print $1}' | xargs)"
          return 0 ;;
      esac
    fi
    sleep 0.2
  done
  die "$name: systemd not running after ${WAIT_TIMEOUT}s (state '${state:-none}', container $(lxc-info -n "$name" -sH 2>/dev/null); see $LXC_PATH/$name/lxc.log)"
}

start() {
  container_running "$1" && return 0
  local br
  while read -r br; do
    ip link show dev "$br" >/dev/null 2>&1 || die "$1: bridge $br missing (run network.sh up first)"
  done < <(awk '$1 ~ /^lxc\.net\.[0-9]+\.link$/ { print $3 }' "$LXC_PATH/$1/config")
  lxc-start -n "$1" || die "lxc-start $1 failed; see $LXC_PATH/$1/lxc.log"
}

# Remove a lxc-copy snapshot's registration in its base image's lxc_snapshots
# (pairs of lines: lxcpath, name), for a clone whose own directory is already broken.
unregister_clone() {
  local f tmp
  for f in "$LXC_PATH"/crm-base-*/lxc_snapshots; do
    [[ -f "$f" ]] || continue
    tmp="$(awk -v n="$1" 'NR % 2 == 1 { p = $0; next } $0 != n { print p; print }' "$f")"
    if [[ -n "$tmp" ]]; then printf '%s\n' "$tmp" >"$f"; else rm -f "$f"; fi
  done
}

destroy() {
  local name="$1"
  require_crm_name "$name"
  if container_exists "$name" && [[ -n "${CRM_OWNER:-}" && -f "$(owner_file "$name")" && "$(cat "$(owner_file "$name")")" != "$CRM_OWNER" ]]; then
    log "$name belongs to $(cat "$(owner_file "$name")"), not $CRM_OWNER: leaving it"; return 0
  fi
  if container_exists "$name"; then
    if container_running "$name"; then
      lxc-stop -n "$name" -t "$STOP_TIMEOUT" || lxc-stop -n "$name" -k || true
    fi
    with_lock lxc-destroy -n "$name" >&2 || log "lxc-destroy $name failed; removing its directory"
  fi
  if [[ -e "$LXC_PATH/$name" ]]; then   # stale overlay or half-made clone
    umount_under "$LXC_PATH/$name"
    rm -rf "${LXC_PATH:?}/$name"
    with_lock unregister_clone "$name"
  fi
}

create() {
  local name="$1" image="$2"; shift 2
  local hn="${name#"$CRM_PREFIX"}" fuse=0 nics="" routes="" desired delta t0
  while (($#)); do
    case "$1" in
      --hostname) hn="${2:?}"; shift 2 ;;
      --fuse) fuse=1; shift ;;
      --nic) [[ "${2:-}" =~ ^(crm)?lan[1-4]=[0-9.]+/[0-9]+$ ]] || die "bad --nic '${2:-}'"
             nics+="${nics:+ }$2"; shift 2 ;;
      --route) [[ "${2:-}" =~ ^[0-9./]+=[0-9.]+$ ]] || die "bad --route '${2:-}'"
               routes+="${routes:+ }$2"; shift 2 ;;
      *) usage ;;
    esac
  done
  require_crm_name "$name"
  if container_exists "$name"; then check_owner "$name"; fi
  [[ -f "$LXC_PATH/$image/rootfs/etc/crm-image-complete" ]] || die "image $image missing or incomplete"
  t0="$(date +%s.%N)"
  desired="$(render_config "$name" "$image" "$hn" "$fuse" "$nics" "$routes")"

  if container_exists "$name"; then
    if [[ "$(cat "$LXC_PATH/$name/config")" == "$desired" ]]; then
      start "$name"; wait_systemd "$name"; log "$name unchanged, running"; return 0
    fi
    log "$name: arguments changed, recreating"
  fi
  destroy "$name"

  with_lock lxc-copy -n "$image" -N "$name" -s -B overlayfs >&2
  printf '%s\n' "$desired" >"$LXC_PATH/$name/config"
  [[ -z "${CRM_OWNER:-}" ]] || echo "$CRM_OWNER" >"$(owner_file "$name")"
  # Files the clone needs before its first boot go straight into the overlay's upper dir.
  delta="$LXC_PATH/$name/overlay/delta"
  [[ -d "$delta" ]] || die "lxc-copy made no overlay at $delta"
  mkdir -p "$delta/etc/systemd/system/multi-user.target.wants"
  echo "$hn" >"$delta/etc/hostname"   # systemd sets the hostname from it at boot
  sed "s/^127\.0\.1\.1\s.*/127.0.1.1\t$hn/" "$LXC_PATH/$image/rootfs/etc/hosts" >"$delta/etc/hosts"
  # Own machine-id per clone (journal, D-Bus); not "uninitialized": a first boot would re-enable every service.
  tr -d '-' </proc/sys/kernel/random/uuid >"$delta/etc/machine-id"
  if [[ -n "$routes" ]]; then
    render_routes_unit "$routes" >"$delta/etc/systemd/system/crm-routes.service"
    ln -sf /etc/systemd/system/crm-routes.service "$delta/etc/systemd/system/multi-user.target.wants/"
  fi
  start "$name"
  wait_systemd "$name"
  log "$name created and running in $(elapsed "$t0")s"
}

case "${1:-}" in
  create) (($# >= 3)) || usage; shift; create "$@" ;;
  destroy) (($# == 2)) || usage; destroy "$2" ;;
  wait) (($# == 2)) || usage; require_crm_name "$2"; container_exists "$2" || die "$2 does not exist"; wait_systemd "$2" ;;
  probe) (($# == 2)) || usage; probe "$2" ;;
  check)
    (($# == 3)) || usage; require_crm_name "$2"
    if ! container_exists "$2"; then echo absent
    elif ! container_running "$2"; then echo stopped
    else lxc-attach -n "$2" --clear-env -- sh -c "$3"; fi ;;
  *) usage ;;
esac
