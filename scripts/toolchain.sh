#!/usr/bin/env bash
# Makes the Pulumi toolchain available: the project's npm packages (with Node.js 24), the `pulumi`
# CLI, the Node.js language host and the dynamic-provider plugin, at pinned versions.
# A suitable `pulumi` already on PATH is used as it is; otherwise everything is built from Go
# modules into .tools/bin. Cached: a second run only checks stamps.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CRM_LOG_TAG=toolchain

PULUMI_VERSION=$(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/pulumi/pulumi/pkg/v3") { v = $(i + 1); sub(/^v/, "", v); print v } }' "$CRM_ROOT/toolchain/cli/go.mod")
BIN=$CRM_TOOLS/bin

npm_packages() {
  local key
  key=$(sha256sum "$CRM_ROOT/package-lock.json" | cut -c1-16)
  crm_stamp_ok "$CRM_ROOT/node_modules/.crm-stamp" "$key" && return 0
  command -v npm >/dev/null || crm_die "npm is required: apt-get install nodejs npm"
  crm_log "installing npm packages (npm ci)"
  (cd "$CRM_ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  crm_stamp_set "$CRM_ROOT/node_modules/.crm-stamp" "$key"
}

# An installed CLI of the pinned version with a Node.js host next to it needs no build.
installed_pulumi_ok() {
  local found
  found=$(PATH=${PATH//$BIN:/} command -v pulumi) || return 1
  [[ $("$found" version 2>/dev/null) == "v$PULUMI_VERSION" ]] || return 1
  [[ -x $(dirname "$found")/pulumi-language-nodejs ]] || command -v pulumi-language-nodejs >/dev/null
}

require_go() {
  command -v go >/dev/null || crm_die "Go 1.26 or newer is needed to build the Pulumi CLI (v$PULUMI_VERSION) here.
  Install it from your distribution (Debian: golang-1.26 from backports) or from the Go project's
  release archive into /usr/local/go, then run this again. Or install Pulumi v$PULUMI_VERSION yourself."
  local v
  v=$(go env GOVERSION | sed 's/^go//')
  [[ $(printf '%s\n1.26\n' "$v" | sort -V | head -1) == 1.26 ]] || crm_die "Go $v is too old: Go 1.26 or newer is needed"
}

build_tools() {
  local key
  key=$(cat "$CRM_ROOT"/toolchain/cli/go.{mod,sum} "$CRM_ROOT"/toolchain/language-nodejs/*.go "$CRM_ROOT"/toolchain/language-nodejs/go.{mod,sum} \
    "$CRM_ROOT/toolchain/pulumi-resource-pulumi-nodejs" | sha256sum | cut -c1-16)-$PULUMI_VERSION-$(go env GOVERSION)
  crm_stamp_ok "$BIN/.crm-stamp" "$key" && [[ -x $BIN/pulumi ]] && return 0
  mkdir -p "$BIN"
  export GOFLAGS=-mod=readonly
  crm_log "building pulumi v$PULUMI_VERSION from Go modules (several minutes the first time; cached after)"
  (cd "$CRM_ROOT/toolchain/cli" && go build -trimpath -o "$BIN/pulumi" \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
  crm_log "building pulumi-language-nodejs"
  (cd "$CRM_ROOT/toolchain/language-nodejs" && go build -trimpath -o "$BIN/pulumi-language-nodejs" \
    -ldflags "-s -w -X main.version=$PULUMI_VERSION" .)
  install -m 0755 "$CRM_ROOT/toolchain/pulumi-resource-pulumi-nodejs" "$BIN/pulumi-resource-pulumi-nodejs"
  crm_stamp_set "$BIN/.crm-stamp" "$key"
}

npm_packages
if installed_pulumi_ok; then
  crm_log "using the installed pulumi v$PULUMI_VERSION"
else
  require_go
  build_tools
fi
crm_pulumi_env
crm_log "ready: $(pulumi version) ($(command -v pulumi)), node $(node --version)"
