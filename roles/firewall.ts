/**
 * The firewall's policy as typed rules, and its nftables rendering for the fw host.
 * The clouds render the same rules into security groups and network ACLs.
 */
import { addressOn, CONNTRACK_SYNC_PORT, type HostPlan } from "../topology/plan";
import { isIpv4Cidr } from "../topology/settings";
import { conntrackSyncSteps, type ConntrackSyncArgs } from "./conntrackd";
import { ipForwarding, roleScript, writeFile, enableNow } from "./script";
import { vrrpPairSteps, type VrrpPairArgs } from "./vrrp";

export type Protocol = "tcp" | "udp" | "icmp-echo";

/** Traffic allowed from outside towards one address of the scenario; everything else is dropped. */
export interface AllowRule {
  readonly description: string;
  readonly protocol: Protocol;
  /** Destination address (the service's entry point). */
  readonly to: string;
  /** Destination port; required for tcp/udp, absent for icmp-echo. */
  readonly port?: number;
  /** Source CIDR; default: anywhere. */
  readonly from?: string;
}

export interface FirewallPolicy {
  /** New connections forwarded through the firewall. */
  readonly forward: readonly AllowRule[];
  /** What the firewall host itself answers (besides replies to its own traffic). */
  readonly input: readonly AllowRule[];
}

/** Returns what is wrong with a rule, or undefined; exported for the component's early validation. */
export function ruleProblem(rule: AllowRule): string | undefined {
  const hasPort = rule.port !== undefined;
  if (rule.protocol === "icmp-echo" && hasPort) return `${rule.description}: icmp-echo takes no port`;
  if (rule.protocol !== "icmp-echo" && (!hasPort || !Number.isInteger(rule.port) || rule.port! < 1 || rule.port! > 65535)) {
    return `${rule.description}: ${rule.protocol} needs a port between 1 and 65535`;
  }
  if (rule.from !== undefined && !isIpv4Cidr(rule.from)) return `${rule.description}: source ${rule.from} is not an IPv4 CIDR`;
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(rule.to)) return `${rule.description}: destination ${rule.to} is not an IPv4 address`;
  return undefined;
}

function nftMatch(rule: AllowRule): string {
  const from = rule.from ? `ip saddr ${rule.from} ` : "";
  const to = `ip daddr ${rule.to} `;
  const what = rule.protocol === "icmp-echo" ? "icmp type echo-request" : `${rule.protocol} dport ${rule.port} ct state new`;
  return `    ${from}${to}${what} accept comment "${rule.description.replace(/"/g, "'")}"`;
}

/** What a firewall of a pair (crm:frontHa) lets in besides the policy; identical on both members. */
export interface FirewallPairRules {
  /** Both members' own addresses: VRRP adverts (IP protocol 112) are accepted from these only. */
  readonly members: readonly string[];
  /** conntrackd's synchronization: both members' addresses on the sync LAN, and its UDP port. */
  readonly sync: { readonly from: readonly string[]; readonly port: number };
}

/** A pair's rules from its two members' plans: every address of both, and both on LAN2 for the sync. */
export function firewallPairRules(members: readonly HostPlan[]): FirewallPairRules {
  return {
    members: members.flatMap((m) => m.nics.map((n) => n.address)),
    sync: { from: members.map((m) => addressOn(m, "lan2")), port: CONNTRACK_SYNC_PORT },
  };
}

const VRRP_PROTOCOL = 112;

function pairInput(pair: FirewallPairRules): string {
  return `    ip saddr { ${pair.members.join(", ")} } ip protocol ${VRRP_PROTOCOL} accept comment "VRRP between the firewalls"
    ip saddr { ${pair.sync.from.join(", ")} } udp dport ${pair.sync.port} accept comment "conntrackd sync between the firewalls"\n`;
}

/** The complete nftables ruleset: default drop, stateful, one line per allowed flow. */
export function renderNftables(policy: FirewallPolicy, pair?: FirewallPairRules): string {
  return `#!/usr/sbin/nft -f
# crm-infra firewall (generated). Default drop; only the listed flows are let through.
flush ruleset

table inet crm_filter {
  chain input {
    type filter hook input priority filter; policy drop;
    iif "lo" accept
    ct state established,related accept
    ct state invalid drop
${pair ? pairInput(pair) : ""}${policy.input.map(nftMatch).join("\n")}
  }

  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    ct state invalid drop
${policy.forward.map(nftMatch).join("\n")}
  }

  chain output {
    type filter hook output priority filter; policy accept;
  }
}
`;
}

/** A member of the firewall pair: its ruleset's additions, its side of VRRP and of conntrackd. */
export interface FirewallPairMember {
  readonly rules: FirewallPairRules;
  readonly vrrp: VrrpPairArgs;
  readonly sync: ConntrackSyncArgs;
}

/**
 * The fw host: forwarding on, the ruleset loaded now and at every boot by nftables.service; as a
 * member of a pair, also conntrackd and keepalived (which starts once the rules and the sync run).
 */
export function firewallRoleScript(policy: FirewallPolicy, pair?: FirewallPairMember): string {
  return roleScript(
    pair ? `firewall (${pair.vrrp.member})` : "firewall",
    ipForwarding(),
    writeFile("/etc/nftables.conf", renderNftables(policy, pair?.rules), {
      mode: "0755",
      onChange: "nft -c -f /etc/nftables.conf && systemctl restart nftables.service",
    }),
    enableNow("nftables.service"),
    ...(pair ? [conntrackSyncSteps(pair.sync), vrrpPairSteps(pair.vrrp, "nftables.service conntrackd.service")] : []),
  );
}
