/**
 * The firewall on aws: one security group per tier, chained load balancer → app → database and
 * Gluster by group references, and a network ACL on the public subnets that mirrors the
 * firewall's forward rules statelessly. Rule derivation is pure and exported for tests.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { SCENARIO_CIDR } from "../../topology/plan";
import { forTier, OUTBOUND_PORTS, WORLD, type Flow, type FlowSource, type Tier } from "./flows";

/** ICMP echo request: type 8, any code. */
export const ICMP_ECHO = { type: 8, code: -1 } as const;

export interface SgRule {
  readonly direction: "ingress" | "egress";
  /** The group the rule belongs to. */
  readonly tier: Tier;
  readonly ipProtocol: "tcp" | "icmp";
  /** Port range for tcp; ICMP type and code for icmp (AWS's convention). */
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

/**
 * Security-group rules for the flows: each flow is an ingress rule on its destination's group
 * and, when it comes from a tier, an egress rule on the source's group (AWS groups made by
 * Pulumi start with no egress). `outbound` tiers also get HTTP(S) to the internet, via NAT.
 * Only tiers in `tiers` (those that have a group) get rules.
 */
export function securityGroupRules(flows: readonly Flow[], tiers: readonly Tier[], outbound: readonly Tier[]): SgRule[] {
  const has = (t: Tier) => tiers.includes(t);
  const rules: SgRule[] = [];
  for (const flow of flows) {
    if (!has(flow.to) || ("tier" in flow.from && !has(flow.from.tier))) continue;
    rules.push({ direction: "ingress", tier: flow.to, peer: flow.from, description: flow.description, ...ports(flow) });
    if ("tier" in flow.from)
      rules.push({ direction: "egress", tier: flow.from.tier, peer: { tier: flow.to }, description: flow.description, ...ports(flow) });
  }
  for (const tier of outbound.filter(has)) {
    for (const port of OUTBOUND_PORTS) {
      rules.push({
        direction: "egress",
        tier,
        peer: { cidr: WORLD },
        description: `outbound tcp/${port} (packages, downloads)`,
        ipProtocol: "tcp",
        fromPort: port,
        toPort: port,
      });
    }
  }
  return rules;
}

export interface NaclEntry {
  readonly ruleNo: number;
  readonly action: "allow";
  /** "6" tcp, "1" icmp, "-1" all. */
  readonly protocol: "6" | "1" | "-1";
  readonly cidrBlock: string;
  readonly fromPort: number;
  readonly toPort: number;
  readonly icmpType?: number;
  readonly icmpCode?: number;
  /** Why the entry exists (NACL entries have no description field; kept for review and tests). */
  readonly why: string;
}

/** Ephemeral ports: the stateless ACL must let replies to the subnet's own outbound connections back in. */
export const EPHEMERAL: readonly [number, number] = [1024, 65535];

/**
 * The public subnets' ACL: the firewall's entry rules, by CIDR, then what a stateless filter needs
 * to mirror `ct state established` (replies on ephemeral ports) and the VPC's own traffic
 * (ALB to targets, private subnets through NAT). Everything else is denied by the ACL's default.
 */
export function publicNaclIngress(entry: readonly Flow[]): NaclEntry[] {
  const fromEntry = entry.map((flow, i): NaclEntry => {
    const cidrBlock = "cidr" in flow.from ? flow.from.cidr : SCENARIO_CIDR;
    const ruleNo = 100 + i * 10;
    if (flow.protocol === "icmp-echo")
      return {
        ruleNo,
        action: "allow",
        protocol: "1",
        cidrBlock,
        fromPort: 0,
        toPort: 0,
        icmpType: ICMP_ECHO.type,
        icmpCode: ICMP_ECHO.code,
        why: flow.description,
      };
    const [from, to] = flow.ports ?? [0, 0];
    return { ruleNo, action: "allow", protocol: "6", cidrBlock, fromPort: from, toPort: to, why: flow.description };
  });
  return [
    ...fromEntry,
    {
      ruleNo: 900,
      action: "allow",
      protocol: "-1",
      cidrBlock: SCENARIO_CIDR,
      fromPort: 0,
      toPort: 0,
      why: "inside the VPC (ALB to targets, private subnets through NAT)",
    },
    {
      ruleNo: 910,
      action: "allow",
      protocol: "6",
      cidrBlock: WORLD,
      fromPort: EPHEMERAL[0],
      toPort: EPHEMERAL[1],
      why: "replies to outbound connections (stateless mirror of ct state established)",
    },
  ];
}

/** Outbound from the public subnets is not filtered by the ACL (the firewall's output chain accepts too); groups filter. */
export const PUBLIC_NACL_EGRESS: readonly NaclEntry[] = [
  { ruleNo: 100, action: "allow", protocol: "-1", cidrBlock: WORLD, fromPort: 0, toPort: 0, why: "outbound and replies" },
];

function naclArg(e: NaclEntry): aws.types.input.ec2.NetworkAclIngress {
  return {
    ruleNo: e.ruleNo,
    action: e.action,
    protocol: e.protocol,
    cidrBlock: e.cidrBlock,
    fromPort: e.fromPort,
    toPort: e.toPort,
    icmpType: e.icmpType,
    icmpCode: e.icmpCode,
  };
}

export type SecurityGroups = Readonly<Partial<Record<Tier, aws.ec2.SecurityGroup>>>;

export function createSecurityGroups(
  vpcId: pulumi.Input<string>,
  tiers: readonly Tier[],
  opts: pulumi.CustomResourceOptions,
): SecurityGroups {
  return Object.fromEntries(
    tiers.map((tier) => [
      tier,
      new aws.ec2.SecurityGroup(`crm-${tier}`, { vpcId, description: `crm ${tier} tier`, tags: { Name: `crm-${tier}`, tier } }, opts),
    ]),
  );
}

/** Stable resource names for rules: tier, direction, and the rule's index among those (shared with openstack). */
export function ruleNames(rules: readonly SgRule[]): string[] {
  const counters = new Map<string, number>();
  return rules.map((rule) => {
    const key = `${rule.tier}-${rule.direction}`;
    const n = counters.get(key) ?? 0;
    counters.set(key, n + 1);
    return `crm-${key}-${n}`;
  });
}

/** One standalone rule resource per derived rule. */
export function createRules(groups: SecurityGroups, rules: readonly SgRule[], opts: pulumi.CustomResourceOptions): pulumi.Resource[] {
  const names = ruleNames(rules);
  return rules.map((rule, i) => {
    const args = {
      securityGroupId: forTier(groups, rule.tier).id,
      ipProtocol: rule.ipProtocol,
      fromPort: rule.fromPort,
      toPort: rule.toPort,
      description: rule.description,
      ...("tier" in rule.peer ? { referencedSecurityGroupId: forTier(groups, rule.peer.tier).id } : { cidrIpv4: rule.peer.cidr }),
    };
    return rule.direction === "ingress"
      ? new aws.vpc.SecurityGroupIngressRule(names[i], args, opts)
      : new aws.vpc.SecurityGroupEgressRule(names[i], args, opts);
  });
}

export function createPublicNacl(
  vpcId: pulumi.Input<string>,
  subnetIds: pulumi.Input<string>[],
  entry: readonly Flow[],
  opts: pulumi.CustomResourceOptions,
): aws.ec2.NetworkAcl {
  return new aws.ec2.NetworkAcl(
    "crm-public",
    {
      vpcId,
      subnetIds,
      ingress: publicNaclIngress(entry).map(naclArg),
      egress: PUBLIC_NACL_EGRESS.map(naclArg),
      tags: { Name: "crm-public" },
    },
    opts,
  );
}
