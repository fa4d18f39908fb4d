/**
 * Security-group rules derived from the flows, the same for both clouds: each flow is an
 * ingress rule on its destination's group and, when it comes from a tier, an egress rule on
 * the source's group (both clouds' groups start here with no egress). Each target renders the
 * rules into its own resources (aws/security.ts, openstack/security.ts).
 */
import { type Flow, type FlowSource, type Outbound, type Tier, WORLD } from "./flows";

/** ICMP echo request: type 8, any code. */
export const ICMP_ECHO = { type: 8, code: -1 } as const;

export interface SgRule {
  readonly direction: "ingress" | "egress";
  /** The group the rule belongs to. */
  readonly tier: Tier;
  readonly ipProtocol: "tcp" | "udp" | "icmp";
  /** Port range for tcp and udp; ICMP type and code for icmp (AWS's convention). */
  readonly fromPort: number;
  readonly toPort: number;
  /** The other side: a group (by tier) or a CIDR. */
  readonly peer: FlowSource;
  readonly description: string;
}

function ports(flow: Flow): Pick<SgRule, "ipProtocol" | "fromPort" | "toPort"> {
  if (flow.protocol === "icmp-echo") return { ipProtocol: "icmp", fromPort: ICMP_ECHO.type, toPort: ICMP_ECHO.code };
  const [from, to] = flow.ports ?? [0, 0];
  return { ipProtocol: "tcp", fromPort: from, toPort: to };
}

/** Who may open which connections to the internet. */
export interface OutboundRules {
  readonly tiers: readonly Tier[];
  readonly allowed: readonly Outbound[];
}

/** Only tiers in `tiers` (those that have a group) get rules. */
export function securityGroupRules(flows: readonly Flow[], tiers: readonly Tier[], outbound: OutboundRules): SgRule[] {
  const has = (t: Tier) => tiers.includes(t);
  const rules: SgRule[] = [];
  for (const flow of flows) {
    if (!has(flow.to) || ("tier" in flow.from && !has(flow.from.tier))) continue;
    rules.push({ direction: "ingress", tier: flow.to, peer: flow.from, description: flow.description, ...ports(flow) });
    if ("tier" in flow.from)
      rules.push({ direction: "egress", tier: flow.from.tier, peer: { tier: flow.to }, description: flow.description, ...ports(flow) });
  }
  for (const tier of outbound.tiers.filter(has)) {
    for (const out of outbound.allowed) {
      rules.push({
        direction: "egress",
        tier,
        peer: { cidr: WORLD },
        description: `outbound ${out.protocol}/${out.port} (${out.why})`,
        ipProtocol: out.protocol,
        fromPort: out.port,
        toPort: out.port,
      });
    }
  }
  return rules;
}

/** One resource per rule, each named by ruleNames: what both targets' renderers share. */
export function perRule<T>(prefix: string, rules: readonly SgRule[], make: (name: string, rule: SgRule) => T): T[] {
  const names = ruleNames(prefix, rules);
  return rules.map((rule, i) => make(names[i], rule));
}

/** Stable resource names for rules: the firewall's name, tier, direction, and the rule's index among those. */
export function ruleNames(prefix: string, rules: readonly SgRule[]): string[] {
  const counters = new Map<string, number>();
  return rules.map((rule) => {
    const key = `${rule.tier}-${rule.direction}`;
    const n = counters.get(key) ?? 0;
    counters.set(key, n + 1);
    return `${prefix}-${key}-${n}`;
  });
}
