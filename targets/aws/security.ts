/**
 * The firewall on aws: the derived rules (cloud/rules.ts) as standalone rule resources on the
 * tiers' security groups, chained load balancer → app → database and Gluster by group
 * references, and a network ACL on the public subnets that mirrors the firewall's forward rules
 * statelessly. The ACL's entries are pure and exported for tests.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { SCENARIO_CIDR } from "../../topology/plan";
import { forTier, WORLD, type Flow, type Tier } from "../cloud/flows";
import { ICMP_ECHO, perRule, type SgRule } from "../cloud/rules";

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
/** ICMP "destination unreachable, fragmentation needed": without it path MTU discovery breaks (a stateless ACL does not relate it). */
export const ICMP_FRAG_NEEDED = { type: 3, code: 4 } as const;

/**
 * The public subnets' ACL: the firewall's entry rules, by CIDR, then what a stateless filter needs
 * to mirror `ct state established,related` (replies on ephemeral ports, path-MTU ICMP) and the
 * VPC's own traffic (ALB to targets, private subnets through NAT). Everything else is denied.
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
    {
      ruleNo: 920,
      action: "allow",
      protocol: "1",
      cidrBlock: WORLD,
      fromPort: 0,
      toPort: 0,
      icmpType: ICMP_FRAG_NEEDED.type,
      icmpCode: ICMP_FRAG_NEEDED.code,
      why: "fragmentation needed (path MTU discovery for the ALB, the NAT and the management host)",
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

/** One standalone rule resource per derived rule, named after the firewall. */
export function createRules(name: string, groups: SecurityGroups, rules: readonly SgRule[], opts: pulumi.CustomResourceOptions) {
  return perRule(name, rules, (ruleName, rule): pulumi.Resource => {
    const args = {
      securityGroupId: forTier(groups, rule.tier).id,
      ipProtocol: rule.ipProtocol,
      fromPort: rule.fromPort,
      toPort: rule.toPort,
      description: rule.description,
      ...("tier" in rule.peer ? { referencedSecurityGroupId: forTier(groups, rule.peer.tier).id } : { cidrIpv4: rule.peer.cidr }),
    };
    return rule.direction === "ingress"
      ? new aws.vpc.SecurityGroupIngressRule(ruleName, args, opts)
      : new aws.vpc.SecurityGroupEgressRule(ruleName, args, opts);
  });
}

export function createPublicNacl(
  name: string,
  vpcId: pulumi.Input<string>,
  subnetIds: pulumi.Input<string>[],
  entry: readonly Flow[],
  opts: pulumi.CustomResourceOptions,
): aws.ec2.NetworkAcl {
  return new aws.ec2.NetworkAcl(
    `${name}-public`,
    {
      vpcId,
      subnetIds,
      ingress: publicNaclIngress(entry).map(naclArg),
      egress: PUBLIC_NACL_EGRESS.map(naclArg),
      tags: { Name: `${name}-public` },
    },
    opts,
  );
}
