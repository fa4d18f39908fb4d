/**
 * The firewall on openstack: one security group per tier with the rules derived from the
 * firewall policy and the architecture's flows (the same derivation as aws). Groups are made
 * without Neutron's default allow-all egress, so egress is as explicit as on aws.
 */
import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import { forTier, type Tier } from "../aws/flows";
import { ruleNames, type SgRule } from "../aws/security";

/** Neutron's rule arguments for a derived rule (pure): ICMP type in port_range_min, any code. */
export function neutronRule(rule: SgRule): { direction: string; protocol: string; portRangeMin: number; portRangeMax?: number } {
  if (rule.ipProtocol === "icmp") return { direction: rule.direction, protocol: "icmp", portRangeMin: rule.fromPort };
  return { direction: rule.direction, protocol: "tcp", portRangeMin: rule.fromPort, portRangeMax: rule.toPort };
}

/**
 * With Octavia, the load balancer's traffic to members leaves from amphora ports on the member
 * subnet, which are in no group of ours: the app's rules from the lb tier then name that
 * subnet's CIDR (the front LAN, where nothing else but app servers lives).
 */
export function octaviaPeers(rules: readonly SgRule[], memberCidr: string): SgRule[] {
  return rules.map((r) =>
    r.direction === "ingress" && "tier" in r.peer && r.peer.tier === "lb" ? { ...r, peer: { cidr: memberCidr } } : r,
  );
}

export type SecurityGroups = Readonly<Partial<Record<Tier, openstack.networking.SecGroup>>>;

export function createSecurityGroups(tiers: readonly Tier[], opts: pulumi.CustomResourceOptions): SecurityGroups {
  return Object.fromEntries(
    tiers.map((tier) => [
      tier,
      new openstack.networking.SecGroup(`crm-${tier}`, { description: `crm ${tier} tier`, deleteDefaultRules: true }, opts),
    ]),
  );
}

export function createRules(groups: SecurityGroups, rules: readonly SgRule[], opts: pulumi.CustomResourceOptions): pulumi.Resource[] {
  const names = ruleNames(rules);
  return rules.map(
    (rule, i) =>
      new openstack.networking.SecGroupRule(
        names[i],
        {
          securityGroupId: forTier(groups, rule.tier).id,
          ethertype: "IPv4",
          description: rule.description,
          ...neutronRule(rule),
          ...("tier" in rule.peer ? { remoteGroupId: forTier(groups, rule.peer.tier).id } : { remoteIpPrefix: rule.peer.cidr }),
        },
        opts,
      ),
  );
}
