#!/usr/bin/env bash
# image.sh NAME BASE : the rehearsal image NAME (rh-image-*), built once from the vnx base image
# BASE (targets/vnx/scripts/image.sh) as a full copy, plus what a cloud host has and the vnx hosts
# do not: cloud-init, reading a NoCloud seed. The hosts reach no network, so the packages the
# user data installs come from a local repository inside the image (file:/opt/rh-repo), which
# replaces the image's Debian sources: the user data's `apt-get update` and `apt-get install`
# run unchanged and succeed offline. PostgreSQL and the Gluster server are removed from the
# copy, so that the user data installs them after it has bound their state to the data volume,
# as on a plain cloud image (the vnx image has them installed, with their state on the root).
# The caller names the image from a hash of this script and BASE: an image is never modified.
set -euo pipefail
export LOG_TAG=rehearsal-image
# shellcheck source=../../targets/vnx/scripts/lib.sh
. "$(dirname "$(readlink -f "$0")")/../../targets/vnx/scripts/lib.sh"

MARKER=etc/rh-image-complete
# Installed by the user data from the local repository (targets/cloud/cloudinit.ts ROLE_PACKAGES).
FROM_REPO=(postgresql glusterfs-server)
name="${1:?usage: image.sh NAME BASE}" base="${2:?usage: image.sh NAME BASE}"
[[ "$name" =~ ^rh-image-[0-9a-f]+$ ]] || die "image name must be rh-image-<hash>"
[[ -f "$LXC_PATH/$base/rootfs/etc/crm-image-complete" ]] || die "base image $base missing or incomplete"
root="$LXC_PATH/$name/rootfs"
[[ -f "$root/$MARKER" ]] && { log "$name is complete"; exit 0; }

build_log=/var/log/crm-vnx/rehearsal-image.log
mkdir -p /var/log/crm-vnx
: >"$build_log"
quiet() { "$@" >>"$build_log" 2>&1 || { tail -n 30 "$build_log" >&2; die "failed: $* (log $build_log)"; }; }
in_root() { DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 chroot "$root" "$@"; }

t0="$(date +%s.%N)"
umount_under "$LXC_PATH/$name" 2>/dev/null || true
rm -rf "${LXC_PATH:?}/$name"
mkdir -p "$LXC_PATH/$name"
log "copying $base"
cp -a "$LXC_PATH/$base/rootfs" "$root"
trap 'umount_under "$root"' EXIT
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
cp --remove-destination /etc/resolv.conf "$root/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

log "cloud-init, and the repository of what the user data installs"
quiet in_root apt-get update
quiet in_root apt-get install -y --no-install-recommends cloud-init e2fsprogs
quiet in_root apt-get purge -y "${FROM_REPO[@]}" postgresql-17
rm -rf "$root"/var/lib/postgresql/* "$root"/etc/postgresql/* "$root"/var/lib/glusterd
in_root apt-get clean
quiet in_root apt-get install -y --download-only --no-install-recommends "${FROM_REPO[@]}"
mkdir -p "$root/opt/rh-repo"
mv "$root"/var/cache/apt/archives/*.deb "$root/opt/rh-repo/"
(cd "$root/opt/rh-repo" && dpkg-scanpackages . /dev/null >Packages 2>>"$build_log")
rm -f "$root"/etc/apt/sources.list "$root"/etc/apt/sources.list.d/*
echo 'deb [trusted=yes] file:/opt/rh-repo ./' >"$root/etc/apt/sources.list.d/rehearsal.list"
quiet in_root apt-get update

# NoCloud only; no network configuration by cloud-init (LXC gives each NIC its address); the
# sources above kept (cloud-init would write Debian's mirrors, which the hosts cannot reach); no
# growing of a root partition (a container's root is a directory).
cat >"$root/etc/cloud/cloud.cfg.d/99-rehearsal.cfg" <<'CFG'
datasource_list: [NoCloud]
network: {config: disabled}
apt: {preserve_sources_list: true}
growpart: {mode: "off"}
resize_rootfs: false
CFG
# Stand-in for the SSM agent the aws user data installs from AWS's bucket (unreachable here):
# an enabled unit of that name, which the user data's step takes as installed.
cat >"$root/etc/systemd/system/amazon-ssm-agent.service" <<'UNIT'
[Unit]
Description=rehearsal stand-in for the SSM agent
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
[Install]
WantedBy=multi-user.target
UNIT
in_root systemctl enable amazon-ssm-agent.service >>"$build_log" 2>&1
: >"$root/etc/resolv.conf"
rm -f "$root/usr/sbin/policy-rc.d"
umount_under "$root"
trap - EXIT
cat >"$LXC_PATH/$name/config" <<CFG
lxc.rootfs.path = dir:$root
lxc.uts.name = $name
CFG
echo "$name from $base built $(date -u +%FT%TZ)" >"$root/$MARKER"
log "built $name in $(elapsed "$t0")s, size $(du -sh "$root" | cut -f1)"
