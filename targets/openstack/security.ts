/**
 * The firewall on openstack: the derived rules (cloud/rules.ts, the same derivation as aws) as
 * Neutron security-group rules on the tiers' groups (made without Neutron's default egress).
 */
import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import { forTier, type Tier } from "../cloud/flows";
import { perRule, type SgRule } from "../cloud/rules";

/** Neutron's rule arguments for a derived rule (pure): ICMP type in port_range_min, any code. */
export function neutronRule(rule: SgRule): { direction: string; protocol: string; portRangeMin: number; portRangeMax?: number } {
  if (rule.ipProtocol === "icmp") return { direction: rule.direction, protocol: "icmp", portRangeMin: rule.fromPort };
  return { direction: rule.direction, protocol: rule.ipProtocol, portRangeMin: rule.fromPort, portRangeMax: rule.toPort };
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

/** One rule resource per derived rule, named after the firewall. */
export function createRules(name: string, groups: SecurityGroups, rules: readonly SgRule[], opts: pulumi.CustomResourceOptions) {
  return perRule(
    name,
    rules,
    (ruleName, rule): pulumi.Resource =>
      new openstack.networking.SecGroupRule(
        ruleName,
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
