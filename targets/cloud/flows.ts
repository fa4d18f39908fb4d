/**
 * The scenario's allowed traffic as flows between tiers, derived from the firewall's typed policy
 * plus the flows the architecture needs inside (lb → app → database and Gluster). Cloud-neutral:
 * the aws target renders these into security-group rules and the openstack target into its
 * own security-group rules, so both mirror one derivation.
 *
 * On the clouds there is no fw host: its forward rules become the entry tier's ingress (the
 * load balancer's, the management host's), and its input rules (ping of the fw itself) have
 * nothing to apply to.
 */
import type { AllowRule, FirewallPolicy } from "../../roles/firewall";
import { PG_PORT, SERVICE_ADDRESS } from "../../topology/plan";

export type Tier = "lb" | "app" | "db" | "nas" | "mgmt";
export const WORLD = "0.0.0.0/0";

/**
 * glusterd (24007) and its management port, then the brick ports. Since GlusterFS 10 (Debian 13
 * ships 11.1) a brick takes a random port between base-port and max-port of glusterd.vol,
 * 49152–60999 by default, no longer the next one from 49152: the whole range must be open.
 */
export const GLUSTER_PORTS: readonly (readonly [number, number])[] = [
  [24007, 24008],
  [49152, 60999],
];
export const SSH_PORT = 22;

export type FlowSource = { readonly tier: Tier } | { readonly cidr: string };

/** New connections allowed towards a tier. */
export interface Flow {
  readonly description: string;
  readonly protocol: "tcp" | "icmp-echo";
  /** Inclusive port range; absent for icmp-echo. */
  readonly ports?: readonly [number, number];
  readonly to: Tier;
  readonly from: FlowSource;
}

export interface FlowOptions {
  readonly appPort: number;
  /** The management host's address in the plan, when there is one (its SSH rule's destination). */
  readonly managementAddress?: string;
  /** Whether the management host exists (it gets SSH to every tier). */
  readonly hasManagement: boolean;
}

/** Which tier a firewall forward rule's destination is, or a message why it has none on a cloud. */
export function entryTier(rule: AllowRule, opts: Pick<FlowOptions, "managementAddress">): { tier: Tier } | { problem: string } {
  if (rule.to === SERVICE_ADDRESS) return { tier: "lb" };
  if (opts.managementAddress !== undefined && rule.to === opts.managementAddress) return { tier: "mgmt" };
  return {
    problem: `${rule.description}: ${rule.to} is no entry point on the clouds (only the load balancer and the management host are)`,
  };
}

/** The firewall's forward rules as flows into the entry tiers; throws on a rule no cloud entry point serves. */
export function entryFlows(policy: FirewallPolicy, opts: Pick<FlowOptions, "managementAddress">): Flow[] {
  return policy.forward.map((rule) => {
    const entry = entryTier(rule, opts);
    if ("problem" in entry) throw new Error(entry.problem);
    return {
      description: rule.description,
      protocol: rule.protocol === "icmp-echo" ? "icmp-echo" : "tcp",
      ports: rule.port !== undefined ? ([rule.port, rule.port] as const) : undefined,
      to: entry.tier,
      from: { cidr: rule.from ?? WORLD },
    };
  });
}

/** The flows inside the architecture: every one comes from a tier, never from a CIDR. */
export function internalFlows(opts: FlowOptions): Flow[] {
  const gluster = (from: Tier): Flow[] =>
    GLUSTER_PORTS.map((ports) => ({
      description: `gluster ${ports[0]}-${ports[1]} from ${from}`,
      protocol: "tcp",
      ports,
      to: "nas",
      from: { tier: from },
    }));
  const flows: Flow[] = [
    {
      description: "app port from the load balancer",
      protocol: "tcp",
      ports: [opts.appPort, opts.appPort],
      to: "app",
      from: { tier: "lb" },
    },
    { description: "postgresql from the app servers", protocol: "tcp", ports: [PG_PORT, PG_PORT], to: "db", from: { tier: "app" } },
    ...gluster("app"),
    // Peers probe each other and replicate between bricks.
    ...gluster("nas"),
  ];
  if (opts.hasManagement) {
    for (const to of ["lb", "app", "db", "nas"] as const) {
      flows.push({
        description: `ssh from the management host to ${to}`,
        protocol: "tcp",
        ports: [SSH_PORT, SSH_PORT],
        to,
        from: { tier: "mgmt" },
      });
    }
  }
  return flows;
}

/** Every allowed new connection of the scenario on a cloud. */
export function scenarioFlows(policy: FirewallPolicy, opts: FlowOptions): Flow[] {
  return [...entryFlows(policy, opts), ...internalFlows(opts)];
}

/** A kind of connection hosts open to the internet (through NAT or the router). */
export interface Outbound {
  readonly protocol: "tcp" | "udp";
  readonly port: number;
  readonly why: string;
}

/**
 * Outbound to the internet: HTTP and HTTPS, for the package mirrors at first boot and the
 * cloud's own APIs (object store, SSM). The app and Node.js come from the stack's own object
 * store, never from a third party. Security groups are stateful, so replies need no rule.
 */
export const WEB_OUTBOUND: readonly Outbound[] = [
  { protocol: "tcp", port: 80, why: "package mirrors" },
  { protocol: "tcp", port: 443, why: "package mirrors, the cloud's APIs" },
];

/**
 * Name resolution. AWS security groups never filter the VPC's resolver (the VPC base + 2), so aws
 * needs no rule; Neutron's groups filter every packet, and the resolvers DHCP hands out may be
 * outside the subnet, so openstack needs DNS to anywhere.
 */
export const DNS_OUTBOUND: readonly Outbound[] = [
  { protocol: "udp", port: 53, why: "DNS" },
  { protocol: "tcp", port: 53, why: "DNS (large answers)" },
];

/** A flow that lets the world in: only the load balancer's TCP/80 and ICMP echo may be such. */
export function isWorldOpen(flow: Flow): boolean {
  return "cidr" in flow.from && flow.from.cidr === WORLD;
}

/** The group (or any per-tier thing) of a tier, which must exist: a missing one is a programming error. */
export function forTier<T>(byTier: Readonly<Partial<Record<Tier, T>>>, tier: Tier): T {
  const found = byTier[tier];
  if (found === undefined) throw new Error(`no security group for tier ${tier}`);
  return found;
}
