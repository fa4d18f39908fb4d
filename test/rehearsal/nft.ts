/**
 * The clouds' filters as nftables rulesets, rendered by the rehearsal from the program's own rule
 * objects (the SgRule of targets/cloud/rules.ts, the NaclEntry of targets/aws/security.ts, as the
 * program registered them):
 * - a security group is stateful and per host: loaded in the host's network namespace, policy
 *   drop both ways, replies (ct established,related) admitted, a tier peer as a named set of the
 *   tier's current members (a group reference follows membership, which is not an input of the
 *   host that names it);
 * - a network ACL is stateless and per subnet: in the router's forward chain, entering the
 *   subnet (ingress entries) and leaving it (egress entries), entries in rule-number order, the
 *   first match decides, and no match is a deny, with no connection tracking.
 */
import type { NaclEntry } from "../../targets/aws/security";
import { WORLD, type Tier } from "../../targets/cloud/flows";
import type { SgRule } from "../../targets/cloud/rules";
import type { Nacl } from "./layout";

export const SG_TABLE = "rh_sg";
const TIERS: readonly Tier[] = ["lb", "app", "db", "nas", "mgmt"];

/** The match of a rule's protocol and ports (AWS's convention: ICMP type in fromPort, code in toPort, -1 any). */
function protocolMatch(protocol: string, from: number, to: number): string {
  if (protocol === "icmp") return `icmp type ${from}${to >= 0 ? ` icmp code ${to}` : ""}`;
  if (protocol === "-1") return "";
  const ports = from === to ? `${from}` : `${from}-${to}`;
  return `meta l4proto ${protocol} th dport ${ports}`;
}

function peerMatch(side: "saddr" | "daddr", peer: SgRule["peer"]): string {
  if ("tier" in peer) return `ip ${side} @${peer.tier}`;
  return peer.cidr === WORLD ? "" : `ip ${side} ${peer.cidr}`;
}

function joined(...parts: string[]): string {
  return parts.filter((p) => p !== "").join(" ");
}

/** The security group of `tier` as the ruleset of one host's network namespace. */
export function securityGroupRuleset(tier: Tier, rules: readonly SgRule[], members: Partial<Record<Tier, readonly string[]>>): string {
  const mine = rules.filter((r) => r.tier === tier);
  const line = (r: SgRule) =>
    `    ${joined(peerMatch(r.direction === "ingress" ? "saddr" : "daddr", r.peer), protocolMatch(r.ipProtocol, r.fromPort, r.toPort))} accept # ${r.description}`;
  const sets = TIERS.map((t) => {
    const elements = members[t] ?? [];
    return `  set ${t} {\n    type ipv4_addr\n${elements.length > 0 ? `    elements = { ${elements.join(", ")} }\n` : ""}  }`;
  });
  return `table inet ${SG_TABLE} {
${sets.join("\n")}
  chain input {
    type filter hook input priority 0; policy drop;
    iif lo accept
    ct state established,related accept
${mine
  .filter((r) => r.direction === "ingress")
  .map(line)
  .join("\n")}
  }
  chain output {
    type filter hook output priority 0; policy drop;
    oif lo accept
    ct state established,related accept
${mine
  .filter((r) => r.direction === "egress")
  .map(line)
  .join("\n")}
  }
}
`;
}

/** nft commands that add a host's addresses to its tier's set (a new member of a group). */
export function addMembers(tier: Tier, addresses: readonly string[]): string {
  return `add element inet ${SG_TABLE} ${tier} { ${addresses.join(", ")} }\n`;
}

const PROTOCOL: Readonly<Record<NaclEntry["protocol"], string>> = { "6": "tcp", "1": "icmp", "-1": "-1" };

function naclLine(side: "saddr" | "daddr", e: NaclEntry): string {
  const proto =
    e.protocol === "1"
      ? protocolMatch("icmp", e.icmpType ?? -1, e.icmpCode ?? -1)
      : protocolMatch(PROTOCOL[e.protocol], e.fromPort, e.toPort);
  const verdict = e.action === "allow" ? "return" : "drop";
  return `    ${joined(e.cidrBlock === WORLD ? "" : `ip ${side} ${e.cidrBlock}`, proto)} ${verdict} # rule ${e.ruleNo}`;
}

/** The router's ruleset: every ACL on the subnets it serves (an allow returns to the next check, the end drops). */
export function naclRuleset(nacls: readonly Nacl[]): string {
  const chains: string[] = [];
  const jumps: string[] = [];
  nacls.forEach((n, i) => {
    const order = (entries: readonly NaclEntry[]) => [...entries].sort((a, b) => a.ruleNo - b.ruleNo);
    const ifaces = `{ ${n.bridges.map((b) => `"${b}"`).join(", ")} }`;
    chains.push(
      `  chain acl${i}_in {\n${order(n.ingress)
        .map((e) => naclLine("saddr", e))
        .join("\n")}\n    drop\n  }`,
    );
    chains.push(
      `  chain acl${i}_out {\n${order(n.egress)
        .map((e) => naclLine("daddr", e))
        .join("\n")}\n    drop\n  }`,
    );
    // Leaving a subnet first (its egress entries), then entering the other (its ingress entries).
    jumps.push(`    iifname ${ifaces} jump acl${i}_out`, `    oifname ${ifaces} jump acl${i}_in`);
  });
  return `table inet rh_nacl {
${chains.join("\n")}
  chain forward {
    type filter hook forward priority 0; policy accept;
${jumps.join("\n")}
  }
}
`;
}
