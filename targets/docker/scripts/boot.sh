#!/usr/bin/env bash
# boot.sh CONTAINER [--route CIDR=VIA]...
#
# Run on the machine (DOCKER_HOST names the engine) once a scenario container exists: waits until
# its systemd has booted, then gives it the plan's static routes and takes away the default route
# Docker gives every container, now and at every boot (a oneshot unit), so that nothing inside
# the scenario can reach beyond it. Safe to run again.
set -euo pipefail
usage() { sed -n '2p' "$0" | sed 's/^# //' >&2; exit 2; }
die() { echo "boot.sh: $*" >&2; exit 1; }
(($# >= 1)) || usage
name=$1
shift
routes=()
while (($#)); do
  case $1 in
    --route) [[ ${2:-} =~ ^[0-9./]+=[0-9.]+$ ]] || die "bad --route '${2:-}'"; routes+=("$2"); shift 2 ;;
    *) usage ;;
  esac
done

state=""
deadline=$((SECONDS + 120))
until [[ $state == running || $state == degraded ]]; do
  ((SECONDS < deadline)) || die "$name: systemd not running after 120 s (state '${state:-none}')"
  sleep 0.5
  state=$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)
done

unit="[Unit]
Description=crm-infra static routes (and no default route)
After=network.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=-/usr/sbin/ip route del default"
for r in "${routes[@]}"; do unit+=$'\n'"ExecStart=/usr/sbin/ip route replace ${r%%=*} via ${r#*=}"; done
unit+=$'\n\n[Install]\nWantedBy=multi-user.target'

docker exec -i "$name" bash -c 'set -e
cat >/etc/systemd/system/crm-routes.service.new
if ! cmp -s /etc/systemd/system/crm-routes.service.new /etc/systemd/system/crm-routes.service; then
  mv /etc/systemd/system/crm-routes.service.new /etc/systemd/system/crm-routes.service
  systemctl daemon-reload
else
  rm /etc/systemd/system/crm-routes.service.new
fi
systemctl enable --quiet crm-routes.service
systemctl restart crm-routes.service' <<<"$unit"
echo "boot.sh: $name booted ($state), ${#routes[@]} route(s), no default route"
