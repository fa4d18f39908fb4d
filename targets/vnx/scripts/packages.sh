#!/usr/bin/env bash
# packages.sh CONTAINER IMAGE PACKAGE...   install Debian packages the base image lacks into one host
#
# For packages only some hosts need (conntrackd, on the firewalls of crm:frontHa). The base image
# is left as it is: its name is the hash of its recipe, so a package added there would make a new
# image and replace every host of every stack, frontHa or not. Containers reach no mirror: the
# machine downloads the packages, with the dependencies the image lacks (resolved against the
# image's own dpkg status, from the image's own sources and keys), into a cache per image, and the
# host installs them with dpkg. Running it again on a host that has them does nothing.
set -euo pipefail
LOG_TAG=packages
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

(($# >= 3)) || { sed -n '2p' "$0" | sed 's/^# //' >&2; exit 2; }
CONTAINER="$1" IMAGE="$2"; shift 2
require_crm_name "$CONTAINER"
require_crm_name "$IMAGE"
for p in "$@"; do [[ "$p" =~ ^[a-z0-9][a-z0-9.+-]+$ ]] || die "bad package name '$p'"; done

if lxc-attach -n "$CONTAINER" --clear-env -- sh -c 'for p; do dpkg -s "$p" >/dev/null 2>&1 || exit 1; done' sh "$@"; then
  log "$CONTAINER: $* already installed"; exit 0
fi

ROOT="$LXC_PATH/$IMAGE/rootfs"
[[ -f "$ROOT/etc/crm-image-complete" ]] || die "no complete base image $IMAGE"
# One cache per image and set of packages: every .deb in it is installed, so a host gets exactly
# what its own packages need (the firewalls' conntrackd, the database pair's Patroni…), even when
# hosts of different sets are provisioned at once.
CACHE="/var/cache/crm-infra/packages/$IMAGE/$(printf '%s\n' "$@" | sort -u | paste -sd+)"
# download: the packages and the dependencies the image lacks, into $CACHE/archives (once per image and set).
download() {
  mkdir -p "$CACHE/lists/partial" "$CACHE/archives/partial" "$CACHE/parts"
  # The image's own sources (its release, main and security), checked with its own archive keys.
  sed -E "s#^deb (https?://)#deb [signed-by=$ROOT/usr/share/keyrings/debian-archive-keyring.gpg] \1#" \
    "$ROOT/etc/apt/sources.list" >"$CACHE/sources.list"
  local apt=(-o "Dir::State::status=$ROOT/var/lib/dpkg/status" -o "Dir::Etc::SourceList=$CACHE/sources.list"
    -o "Dir::Etc::SourceParts=$CACHE/parts" -o "Dir::State::Lists=$CACHE/lists" -o "Dir::Cache=$CACHE"
    -o "Dir::Cache::Archives=$CACHE/archives" -o "Dir::Etc::Preferences=$CACHE/parts/none" -o "Dir::Etc::PreferencesParts=$CACHE/parts"
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  if ! apt-get "${apt[@]}" -qq install -y --download-only --no-install-recommends "$@" >&2 2>/dev/null; then
    # New lists may name newer versions: the old files would be installed beside them.
    rm -f "$CACHE/archives/"*.deb
    apt-get "${apt[@]}" -qq update >&2
    apt-get "${apt[@]}" -qq install -y --download-only --no-install-recommends "$@" >&2
  fi
}
mkdir -p /run/lock
(
  flock 9
  download "$@"
) 9>"/run/lock/crm-packages-$IMAGE.lock"
mapfile -t debs < <(cd "$CACHE/archives" && ls -- *.deb)
((${#debs[@]} > 0)) || die "nothing downloaded for $*"
log "$CONTAINER: installing ${debs[*]}"
# policy-rc.d: the packages' own start of their services waits for the role's configuration.
tar -C "$CACHE/archives" -c -- "${debs[@]}" | lxc-attach -n "$CONTAINER" --clear-env -- sh -c '
  set -e
  d=$(mktemp -d)
  trap "rm -rf \"\$d\" /usr/sbin/policy-rc.d" EXIT
  tar -C "$d" -x
  printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive dpkg -i "$d"/*.deb >/dev/null'
log "$CONTAINER: $* installed"
