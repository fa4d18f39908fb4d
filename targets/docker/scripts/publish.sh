#!/usr/bin/env bash
# publish.sh CONTAINER MACHINE FW_OUTSIDE SERVICE
#
# Run on the machine after the fw container's role: Docker publishes the fw container's port 80
# on the machine (the connection arrives from MACHINE, the machine's address on the outside LAN,
# to FW_OUTSIDE:80), and this forwards exactly that to the load balancer (SERVICE:80), through the
# firewall's own forward rules. Only from MACHINE: a client on the outside LAN still sees nothing
# open on the firewall itself. A unit of its own re-applies it at boot and after every restart of
# nftables.service (whose ruleset starts with `flush ruleset`). Safe to run again.
set -euo pipefail
(($# == 4)) || { sed -n '2p' "$0" | sed 's/^# //' >&2; exit 2; }
name=$1 machine=$2 outside=$3 service=$4
for a in "$machine" "$outside" "$service"; do [[ $a =~ ^[0-9]+(\.[0-9]+){3}$ ]] || { echo "publish.sh: bad address '$a'" >&2; exit 2; }; done

docker exec -i "$name" bash -s <<SCRIPT
set -euo pipefail
cat >/etc/crm-publish.nft <<'NFT'
#!/usr/sbin/nft -f
# crm-infra (docker target): the machine's published port 80 on fw, forwarded to the load balancer.
table ip crm_publish
delete table ip crm_publish
table ip crm_publish {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip saddr $machine ip daddr $outside tcp dport 80 dnat to $service:80
  }
}
NFT
cat >/etc/systemd/system/crm-publish.service <<'UNIT'
[Unit]
Description=crm-infra: the published port 80, forwarded to the load balancer
After=nftables.service
PartOf=nftables.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f /etc/crm-publish.nft

[Install]
WantedBy=multi-user.target nftables.service
UNIT
nft -c -f /etc/crm-publish.nft
systemctl daemon-reload
systemctl enable --quiet crm-publish.service
systemctl restart crm-publish.service
SCRIPT
echo "publish.sh: $machine -> $outside:80 forwarded to $service:80"
