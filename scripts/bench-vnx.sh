#!/usr/bin/env bash
# Times the vnx stack's lifecycle with the real engine, in a throw-away stack of its own:
#   cold up (base image and app bundle built from nothing), destroy, warm up (image cached),
#   no-op up, refresh of the healthy stack, repair of a lost app server (`up --refresh` after
#   lxc-destroy of crm-s2), rollout of a new app release to 3 servers, scale-out to 4 servers,
#   scale-in to 3, scale-out to 10, rollout of a release to 10 servers, destroy; and requests per
#   second from client c1 through the firewall and the load balancer to the app servers (GET
#   /login), over HTTPS (kept-alive, and a full TLS handshake per request) and over HTTP.
#   scripts/bench-vnx.sh [--skip-cold] [--short] [--rps]
#     --short: warm up, no-op up, requests per second and destroy only; --rps: warm up, requests per second, destroy
# Prints one line per step and a table at the end. Needs root and no other scenario running.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CRM_LOG_TAG=bench
cd "$CRM_ROOT"
[[ $(id -u) == 0 ]] || crm_die "run as root: the vnx stack creates containers"
cold=true short=false rps_only=false
for arg in "$@"; do
  case "$arg" in
    --skip-cold) cold=false ;;
    --short) cold=false short=true ;;
    --rps) cold=false rps_only=true ;;
    *) crm_die "unknown option $arg" ;;
  esac
done

scripts/toolchain.sh
crm_pulumi_env
crm_apt "${CRM_VNX_PACKAGES[@]}"

if lxc-ls -1 | grep -qE '^crm-(fw|lb|s[0-9]+|nas[1-3]|bbdd)$'; then
  crm_die "a vnx scenario is already running on this machine; destroy it first (scripts/vnx down)"
fi

dir=/var/tmp/crm-infra-bench
stack=bench
export PULUMI_BACKEND_URL=file://$dir/state PULUMI_CONFIG_PASSPHRASE=crm-bench PULUMI_CONFIG_PASSPHRASE_FILE=
mkdir -p "$dir/state"
config=(--stack "$stack" --config-file "$dir/Pulumi.$stack.yaml")
pulumi stack select --create "$stack" --secrets-provider passphrase >/dev/null
[[ -f Pulumi.$stack.yaml ]] && mv "Pulumi.$stack.yaml" "$dir/Pulumi.$stack.yaml"
pulumi config set "${config[@]}" crm:target vnx
for key in dbPassword sessionSecret adminPassword; do
  head -c 48 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | head -c 40 | pulumi config set "${config[@]}" --secret "crm:$key"
done
trap 'pulumi destroy "${config[@]}" --yes --skip-preview >/dev/null 2>&1 || true' EXIT

declare -a names=() secs=()
# step NAME CMD...: runs CMD, records its wall-clock seconds.
step() {
  local name=$1 start end
  shift
  start=$(date +%s.%N)
  "$@" >"$dir/last.log" 2>&1 || { tail -40 "$dir/last.log" >&2; crm_die "$name failed"; }
  end=$(date +%s.%N)
  names+=("$name") secs+=("$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')")
  crm_log "$name: ${secs[-1]} s"
}
table() {
  printf '\n| step | seconds |\n|---|---:|\n'
  for i in "${!names[@]}"; do printf '| %s | %s |\n' "${names[$i]}" "${secs[$i]}"; done
}
up() { pulumi up "${config[@]}" --yes --skip-preview "$@"; }
# rps: requests per second from c1 (outside the firewall), by scripts/rps.mjs run in c1's network
# namespace (the image has no load generator): 8 clients for 20 s each way.
declare -a rps_names=() rps_values=()
rps() {
  local pid ca=$dir/ca.pem name url flags line
  pulumi stack output --stack "$stack" caCertificate >"$ca"
  pid=$(lxc-info -n crm-c1 -p -H)
  while IFS='|' read -r name url flags; do
    # shellcheck disable=SC2086 # flags: zero or more words
    line=$(nsenter -t "$pid" -n -- "$(command -v node)" scripts/rps.mjs "$url" 20 8 --ca "$ca" $flags)
    crm_log "$name: $line"
    rps_names+=("$name") rps_values+=("$(sed -n 's/.*"rps":\([0-9]*\).*/\1/p' <<<"$line")")
  done <<'RUNS'
HTTPS, kept-alive connections (200 from the app)|https://10.1.2.2/login|
HTTPS, a new connection and full TLS handshake per request (200 from the app)|https://10.1.2.2/login|--new-connections
HTTP, kept-alive connections (301 to HTTPS from the balancer)|http://10.1.2.2/login|
HTTP, a new connection per request (301 to HTTPS from the balancer)|http://10.1.2.2/login|--new-connections
RUNS
}
rps_table() {
  ((${#rps_names[@]} > 0)) || return 0
  printf '\n| from c1, GET /login, 8 clients, 20 s | requests per second |\n|---|---:|\n'
  for i in "${!rps_names[@]}"; do printf '| %s | %s |\n' "${rps_names[$i]}" "${rps_values[$i]}"; done
}
servers() { pulumi config set "${config[@]}" crm:servers "$1"; }

pulumi destroy "${config[@]}" --yes --skip-preview >/dev/null
servers 3
if $cold; then
  image=$(node --import tsx -e 'process.stdout.write(require("./targets/vnx/recipe.ts").imageName())')
  crm_log "cold start: removing the cached base image $image and the app bundle"
  lxc-destroy -n "$image" 2>/dev/null || true
  rm -rf /var/cache/crm-infra/app-bundle
  step "cold up (image + bundle + 3 servers)" up
  step "destroy" pulumi destroy "${config[@]}" --yes --skip-preview
fi
step "warm up (image cached)" up
if $rps_only; then
  rps
  step "destroy" pulumi destroy "${config[@]}" --yes --skip-preview
  table
  rps_table
  exit 0
fi
step "no-op up" up
rps
if $short; then
  step "destroy" pulumi destroy "${config[@]}" --yes --skip-preview
  table
  rps_table
  exit 0
fi
step "refresh (healthy stack)" pulumi refresh "${config[@]}" --yes --skip-preview
lose_s2() { lxc-stop -k -n crm-s2 && lxc-destroy -n crm-s2; }
lose_s2 >/dev/null
step "repair of a lost app server (up --refresh)" up --refresh
# Another release of the app: this commit with a changed stylesheet, in a checkout of its own.
release=$dir/release
git worktree remove --force "$release" 2>/dev/null || rm -rf "$release"
git worktree add -q --detach "$release" HEAD
ln -s "$CRM_ROOT/node_modules" "$release/node_modules"
echo "/* bench release $(date +%s) */" >>"$release/app/public/style.css"
trap 'pulumi destroy "${config[@]}" --yes --skip-preview >/dev/null 2>&1 || true; git worktree remove --force "$release"' EXIT
up_from() { (cd "$1" && pulumi up "${config[@]}" --yes --skip-preview); }
step "rollout of a new release to 3 servers" up_from "$release"
servers 4
step "scale-out to 4" up_from "$release"
servers 3
step "scale-in to 3" up_from "$release"
servers 10
step "scale-out to 10" up_from "$release"
step "rollout of a new release to 10 servers" up
step "destroy" pulumi destroy "${config[@]}" --yes --skip-preview

table
rps_table
