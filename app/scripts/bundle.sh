#!/usr/bin/env bash
# bundle.sh OUT_DIR: the deployable tree, as copied to /opt/crm on each app server:
#   OUT_DIR/{dist,views,public,node_modules,package.json}   run: node OUT_DIR/dist/server.js
# (package.json is needed at run time: it marks dist/*.js as ES modules.)
# Idempotent: OUT_DIR is rebuilt next to itself and swapped in whole.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="${1:?usage: bundle.sh OUT_DIR}"
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
case "$out" in
  / | "$APP_DIR" | "$APP_DIR"/dist | "$APP_DIR"/node_modules) log "refusing to bundle into $out"; exit 64 ;;
esac

ensure_node_modules
build_app

stage="$(mktemp -d "$out.tmp.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
cp -R "$APP_DIR/dist" "$APP_DIR/views" "$APP_DIR/public" "$APP_DIR/package.json" "$APP_DIR/package-lock.json" "$stage/"
# Runtime dependencies only; all are pure JavaScript, so no install scripts are needed.
(cd "$stage" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
rm "$stage/package-lock.json"
chmod 755 "$stage"

rm -rf "$out"
mv "$stage" "$out"
trap - EXIT
log "bundle ready in $out"
