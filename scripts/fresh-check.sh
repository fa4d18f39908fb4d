#!/usr/bin/env bash
# Proves the README's two commands on this machine made as fresh as it can be: removes what the
# project installs (its Debian packages, .tools, node_modules, the base image, the caches), then,
# from a clean clone of the committed HEAD, runs `scripts/vnx up` (checks that the CRM answers,
# then `scripts/vnx down`) and `scripts/test.sh`, and prints the time of each.
#   scripts/fresh-check.sh [--go-caches] [--keep PKG]...
#     --go-caches  also empty Go's build and module caches
#     --keep PKG   leave this Debian package installed (e.g. one that other work on the machine uses now)
# Needs root and no scenario running. Afterwards this checkout needs `scripts/toolchain.sh` again.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CRM_LOG_TAG=fresh
[[ $(id -u) == 0 ]] || crm_die "run as root: it removes Debian packages and containers"
if command -v lxc-ls >/dev/null && lxc-ls -1 | grep -qE '^crm-(fw|lb|s[0-9]+|nas[1-3]|bbdd2?|c[12])$'; then
  crm_die "a vnx scenario is running on this machine; destroy it first (scripts/vnx down)"
fi

go_caches=false keep=()
while (($#)); do
  case "$1" in
    --go-caches) go_caches=true; shift ;;
    --keep) keep+=("${2:?--keep takes a package}"); shift 2 ;;
    *) crm_die "unknown option $1" ;;
  esac
done

# What a new machine of this kind comes with (curl, iproute2, openssh-client, git, Go, Node.js) stays.
installed=()
for pkg in "${CRM_VNX_PACKAGES[@]}" "${CRM_TEST_PACKAGES[@]}" chromium; do
  case " curl iproute2 openssh-client ${keep[*]} " in *" $pkg "*) continue ;; esac
  dpkg -s "$pkg" >/dev/null 2>&1 && installed+=("$pkg")
done
if command -v lxc-ls >/dev/null; then
  for image in $(lxc-ls -1 | grep '^crm-base-' || true); do lxc-destroy -n "$image"; done
fi
if ((${#installed[@]})); then
  crm_log "removing Debian packages: ${installed[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq --autoremove "${installed[@]}" >/dev/null
fi
rm -rf "$CRM_ROOT/.tools" "$CRM_ROOT/node_modules" "$CRM_ROOT/app/node_modules" /var/cache/crm-infra /var/cache/lxc \
  /var/lib/apt/periodic/crm-updated /var/tmp/crm-infra-*
if $go_caches; then
  crm_log "emptying Go's build and module caches"
  go clean -cache -modcache
fi

work=$(mktemp -d /var/tmp/crm-fresh-XXXXXX)
git clone -q "$CRM_ROOT" "$work/crm-infra"
cd "$work/crm-infra"
declare -a names=() secs=()
# timed NAME CMD...: runs CMD with its output in a log, records its wall-clock seconds.
timed() {
  local name=$1 start status=0
  shift
  start=$(date +%s.%N)
  "$@" >"$work/$name.log" 2>&1 || status=$?
  names+=("$name") secs+=("$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }')")
  crm_log "$name: ${secs[-1]} s (exit $status; log $work/$name.log)"
  if ((status != 0)); then tail -40 "$work/$name.log" >&2; crm_die "$name failed on a fresh machine"; fi
}
serves() {
  # The stack's own unreachable route keeps the scenario range on this machine (network.sh).
  ip route get 10.1.2.2 | grep -q 'dev crmlan1' || crm_die "no route to the scenario through crmlan1: refusing to send"
  # Over HTTPS, trusting only the CA that `scripts/vnx up` wrote for the user.
  [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert .pulumi-state/vnx-ca.pem https://10.1.2.2/login) == 200 ]]
}
timed "scripts-vnx-up" bash scripts/vnx up
timed "crm-answers" serves
timed "scripts-vnx-down" bash scripts/vnx down
timed "scripts-test" env CI=true bash scripts/test.sh
grep -E '^tests: ' "$work/scripts-test.log" || true

printf '\n| fresh machine, from a clean clone | seconds |\n|---|---:|\n'
for i in "${!names[@]}"; do printf '| %s | %s |\n' "${names[$i]}" "${secs[$i]}"; done
rm -rf "$work"
