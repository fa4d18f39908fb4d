# shellcheck shell=bash
# Shared shell for the project's scripts: paths, the Pulumi environment, package installs.
# Sourced, not run.

CRM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CRM_ROOT
# Built tools live in the project (git-ignored); Go's own caches make a rebuild after a fresh clone fast.
CRM_TOOLS=${CRM_TOOLS:-$CRM_ROOT/.tools}
export CRM_TOOLS

crm_log() { printf '[%s] %s\n' "${CRM_LOG_TAG:-crm}" "$*" >&2; }
crm_die() { crm_log "error: $*"; exit 1; }

# The Debian packages the project needs on this machine, in one place.
# shellcheck disable=SC2034 # used by the scripts that source this file
# The vnx stack: LXC with Debian's templates (lxc-create -t debian is in lxc-templates), debootstrap
# and distro-info for the image, and the tools the substrate scripts call.
CRM_VNX_PACKAGES=(lxc lxc-templates debootstrap distro-info rsync iproute2 iptables nftables uidmap curl nmap openssh-client)
# shellcheck disable=SC2034
# The tests, beyond the vnx stack: the real tools that check rendered configurations.
# docker.io: the suite runs the vnx stack once with a real Docker engine (scripts/with-docker.sh).
# dpkg-dev: dpkg-scanpackages indexes the cloud rehearsal's local package repository (test/rehearsal/image.sh).
# sslscan: the end-to-end test scans the service's TLS from a client's network (nsenter, so the image keeps its recipe).
# patroni, etcd-server, pgbackrest and NRPE: the database roles' tests run the real programs.
CRM_TEST_PACKAGES=(shellcheck haproxy nagios4 monitoring-plugins-basic openssh-server postgresql keepalived docker.io dpkg-dev
  sslscan patroni etcd-server etcd-client pgbackrest nagios-nrpe-server nagios-nrpe-plugin)

# crm_apt PKG...: installs the Debian packages that are missing; a no-op when all are present.
# One apt at a time: scripts that run in parallel (Pulumi runs resources at once) queue on a lock
# of ours, and apt itself waits for dpkg's lock instead of failing when something else holds it.
crm_apt() {
  local missing=() pkg
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  ((${#missing[@]} == 0)) && return 0
  mkdir -p /run/lock
  (
    flock 8
    missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    ((${#missing[@]} == 0)) && exit 0
    crm_log "installing Debian packages: ${missing[*]}"
    local apt=(apt-get -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends)
    export DEBIAN_FRONTEND=noninteractive
    if [[ ! -f /var/lib/apt/periodic/crm-updated ]] || ! "${apt[@]}" install "${missing[@]}" >/dev/null 2>&1; then
      apt-get -o DPkg::Lock::Timeout=600 update -qq
      mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/crm-updated
      "${apt[@]}" install "${missing[@]}"
    fi
  ) 8>/run/lock/crm-apt.lock
}

# crm_stamp_ok FILE KEY: true when FILE holds KEY (a cache is current); crm_stamp_set FILE KEY records it.
crm_stamp_ok() { [[ -f $1 && $(cat "$1") == "$2" ]]; }
crm_stamp_set() { mkdir -p "$(dirname "$1")" && printf '%s' "$2" >"$1"; }

# The Pulumi environment every command of this project runs in: local state, no downloads, no login.
crm_pulumi_env() {
  export PATH="$CRM_TOOLS/bin:$CRM_ROOT/node_modules/.bin:$PATH"
  export PULUMI_HOME=${PULUMI_HOME:-$CRM_TOOLS/pulumi-home}
  export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://$CRM_ROOT/.pulumi-state}
  export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
  export PULUMI_SKIP_UPDATE_CHECK=true
  export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
  # Type errors are caught by `tsc --noEmit` in the test command; skipping the check here makes every run faster.
  export PULUMI_NODEJS_TRANSPILE_ONLY=${PULUMI_NODEJS_TRANSPILE_ONLY:-true}
  # Secrets use the passphrase provider. Unless the user gives one, a random passphrase is made once
  # and kept beside the local state (see README, "Secrets").
  if [[ -z ${PULUMI_CONFIG_PASSPHRASE:-} && -z ${PULUMI_CONFIG_PASSPHRASE_FILE:-} ]]; then
    local file=$CRM_ROOT/.pulumi-state/passphrase
    if [[ ! -s $file ]]; then
      mkdir -p "$(dirname "$file")"
      (umask 077 && head -c 32 /dev/urandom | base64 >"$file")
    fi
    export PULUMI_CONFIG_PASSPHRASE_FILE=$file
  fi
  mkdir -p "${PULUMI_BACKEND_URL#file://}"
}
