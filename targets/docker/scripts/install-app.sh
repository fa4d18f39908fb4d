#!/usr/bin/env bash
# install-app.sh CONTAINER BUNDLE_DIR RELEASE
#
# Run on the machine: puts the app bundle into app server CONTAINER as /opt/crm-releases/RELEASE,
# with /opt/crm (what crm.service runs) a symlink to it, switched atomically, and restarts the app
# when it already runs (a new server is started by its role). Nothing happens when RELEASE is
# already in place. Unlike the vnx target there is no drain from the balancer around the restart.
set -euo pipefail
(($# == 3)) || { sed -n '2p' "$0" | sed 's/^# //' >&2; exit 2; }
name=$1 bundle=$2 release=$3
[[ $release =~ ^[A-Za-z0-9._-]+$ ]] || { echo "install-app.sh: bad release '$release'" >&2; exit 2; }
[[ -f $bundle/dist/server.js ]] || { echo "install-app.sh: no app bundle at $bundle" >&2; exit 1; }

if [[ $(docker exec "$name" readlink /opt/crm 2>/dev/null || true) == "/opt/crm-releases/$release" ]]; then
  echo "install-app.sh: $name already runs release $release"
  exit 0
fi
tar -C "$bundle" -c . | docker exec -i "$name" sh -c "set -e
  rm -rf /opt/crm-releases/$release.new && mkdir -p /opt/crm-releases/$release.new
  tar -C /opt/crm-releases/$release.new -x
  rm -rf /opt/crm-releases/$release && mv /opt/crm-releases/$release.new /opt/crm-releases/$release
  ln -sfn /opt/crm-releases/$release /opt/crm.next && mv -T /opt/crm.next /opt/crm
  if systemctl cat crm.service >/dev/null 2>&1; then systemctl restart crm.service; fi"
echo "install-app.sh: $name runs release $release"
