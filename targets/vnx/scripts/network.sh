#!/usr/bin/env bash
# network.sh up|down|status|probe : the scenario's bridges crmlan1..4 on this machine.
# The machine is 10.1.1.2 on crmlan1 and reaches the scenario through fw (10.1.1.1).
# It never routes between LANs itself (no ip_forward needed): fw does, in its container.
# Ownership: with CRM_OWNER set (the Pulumi program sets it to project/stack), each bridge is
# labelled with it (its interface alias); a link of the same name with another label, or none
# (not made by this project), is never changed or deleted. CRM_OPERATION=update means Pulumi's
# state already holds the network: unlabelled bridges made before labels existed are adopted.
set -euo pipefail
LOG_TAG=network
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

BRIDGES=(crmlan1 crmlan2 crmlan3 crmlan4)
SCENARIO=10.1.0.0/16
HOST_ADDR=10.1.1.2/24
FW_ADDR=10.1.1.1
COMMENT=crm-vnx
# Matches only frames bridged inside one of our bridges (br_netfilter presents
# them to iptables FORWARD with -i/-o = the bridge).
RULE=(-i 'crmlan+' -o 'crmlan+' -m comment --comment "$COMMENT" -j ACCEPT)

# iptables binaries that work here (a Docker host may have either or both in use).
iptables_bins() {
  local b
  for b in iptables ip6tables; do
    command -v "$b" >/dev/null && "$b" -S FORWARD >/dev/null 2>&1 && echo "$b"
  done
  return 0
}

# Docker sets FORWARD policy DROP and loads br_netfilter, which drops frames
# bridged between two containers on one of our bridges. We add an ACCEPT for
# our bridges only, in DOCKER-USER (evaluated first by Docker) and FORWARD,
# and change neither Docker's rules nor any sysctl.
add_forward_rules() {
  local b chain
  while read -r b; do
    for chain in DOCKER-USER FORWARD; do
      "$b" -S "$chain" >/dev/null 2>&1 || continue   # DOCKER-USER only with Docker
      "$b" -C "$chain" "${RULE[@]}" 2>/dev/null || "$b" -I "$chain" 1 "${RULE[@]}"
    done
  done < <(iptables_bins)
}

del_forward_rules() {
  local b chain line
  while read -r b; do
    for chain in DOCKER-USER FORWARD; do
      "$b" -S "$chain" >/dev/null 2>&1 || continue
      # Delete every rule carrying our comment, however many times it was added.
      while line="$(grep -m1 -- "--comment $COMMENT\( \|$\)" <<<"$("$b" -S "$chain")")"; do
        local -a spec
        read -r -a spec <<<"${line/#-A /-D }"
        "$b" "${spec[@]}"
      done
    done
    prune_empty_table "$b"
  done < <(iptables_bins)
}

# On a machine without iptables rules, our rule was what made iptables-nft create its filter
# table: left empty, with every policy ACCEPT, it does nothing, and goes with the rule.
prune_empty_table() {
  local b="$1" family=ip
  [[ "$("$b" -V)" == *nf_tables* ]] || return 0
  [[ "$("$b" -S)" == $'-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT' ]] || return 0
  [[ "$b" == ip6tables ]] && family=ip6
  nft delete table "$family" filter 2>/dev/null || true
}

link_exists() { ip link show dev "$1" >/dev/null 2>&1; }
label_of() { cat "/sys/class/net/$1/ifalias" 2>/dev/null || true; }
LABEL="crm-infra ${CRM_OWNER:-}"

# claim BRIDGE : dies unless an existing link BRIDGE may be managed as CRM_OWNER's.
claim() {
  local br="$1" label
  [[ -n "${CRM_OWNER:-}" ]] || return 0   # run by hand: the operator decides
  label="$(label_of "$br")"
  if [[ "$label" != "$LABEL" ]] && ! [[ -z "$label" && "${CRM_OPERATION:-}" == update ]]; then
    die "link $br exists but does not belong to $CRM_OWNER (label: '${label:-none, not made by this stack}'). If it is a leftover, remove it with: ip link del $br"
  fi
  [[ -d "/sys/class/net/$br/bridge" ]] || die "link $br exists but is not a bridge. Remove it with: ip link del $br"
}

# ours BRIDGE : true when down may delete BRIDGE.
ours() { [[ -z "${CRM_OWNER:-}" || "$(label_of "$1")" == "$LABEL" || -z "$(label_of "$1")" ]]; }
has_unreachable() { [[ -n "$(ip route show type unreachable "$SCENARIO" metric 4000 2>/dev/null)" ]]; }

up() {
  local br
  # Nothing is changed while any link of ours is someone else's: all or nothing.
  for br in "${BRIDGES[@]}"; do
    if link_exists "$br"; then claim "$br"; fi
  done
  # First, before anything else exists: scenario traffic must never leave the machine.
  ip route replace unreachable "$SCENARIO" metric 4000
  for br in "${BRIDGES[@]}"; do
    link_exists "$br" || ip link add "$br" type bridge
    [[ -z "${CRM_OWNER:-}" ]] || ip link set dev "$br" alias "$LABEL"
    ip link set "$br" type bridge stp_state 0 forward_delay 0
    ip link set "$br" up
  done
  ip addr replace "$HOST_ADDR" dev crmlan1
  ip route replace "$SCENARIO" via "$FW_ADDR" dev crmlan1 metric 100
  add_forward_rules
  log "up: ${BRIDGES[*]}, $HOST_ADDR on crmlan1, $SCENARIO via $FW_ADDR"
}

down() {
  del_forward_rules
  if [[ -n "$(ip route show "$SCENARIO" via "$FW_ADDR" dev crmlan1 2>/dev/null)" ]]; then
    ip route del "$SCENARIO" via "$FW_ADDR" dev crmlan1 metric 100
  fi
  if link_exists crmlan1 && [[ "$(ip -o addr show dev crmlan1)" == *" $HOST_ADDR "* ]]; then
    ip addr del "$HOST_ADDR" dev crmlan1
  fi
  local br
  for br in "${BRIDGES[@]}"; do
    if link_exists "$br"; then
      if ours "$br"; then ip link del "$br"; else log "leaving $br: it belongs to '$(label_of "$br")'"; fi
    fi
  done
  # Last: until here scenario traffic must still die on this machine.
  if has_unreachable; then ip route del unreachable "$SCENARIO" metric 4000; fi
  log "down: nothing of the scenario network is left"
}

status() {
  local br b
  echo "unreachable-route: $(has_unreachable && echo present || echo absent)"
  for br in "${BRIDGES[@]}"; do
    if link_exists "$br"; then
      echo "bridge $br: $(ip -br link show dev "$br" | awk '{print $2}') ports=$(ip -br link show master "$br" | wc -l)"
    else
      echo "bridge $br: absent"
    fi
  done
  echo "host-address: $(ip -o -4 addr show 2>/dev/null | awk -v a="$HOST_ADDR" '$4 == a {print a " on " $2}' | grep . || echo absent)"
  echo "route-via-fw: $(ip route show "$SCENARIO" via "$FW_ADDR" 2>/dev/null | grep . || echo absent)"
  while read -r b; do
    echo "$b rules: $({ "$b" -S FORWARD; "$b" -S DOCKER-USER 2>/dev/null || true; } | grep -c -- "--comment $COMMENT")"
  done < <(iptables_bins)
}

# One line for Pulumi's refresh: "ok", or what is missing. Never "absent": running hosts hang on
# these bridges, so a missing piece is repaired in place by running `up` again.
probe() {
  local missing=() br b chain
  has_unreachable || missing+=(unreachable-route)
  for br in "${BRIDGES[@]}"; do
    [[ "$(ip -o link show dev "$br" 2>/dev/null)" == *"<"*UP*">"* ]] || missing+=("$br")
  done
  [[ "$(ip -o addr show dev crmlan1 2>/dev/null)" == *" $HOST_ADDR "* ]] || missing+=(host-address)
  [[ -n "$(ip route show "$SCENARIO" via "$FW_ADDR" dev crmlan1 2>/dev/null)" ]] || missing+=(route-via-fw)
  while read -r b; do
    for chain in DOCKER-USER FORWARD; do
      "$b" -S "$chain" >/dev/null 2>&1 || continue
      "$b" -C "$chain" "${RULE[@]}" 2>/dev/null || missing+=("$b:$chain")
    done
  done < <(iptables_bins)
  if ((${#missing[@]} == 0)); then echo ok; else echo "missing: ${missing[*]}"; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  probe) probe ;;
  *) echo "usage: network.sh up|down|status|probe" >&2; exit 2 ;;
esac
