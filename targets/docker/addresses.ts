/**
 * The docker stack's address plan: the seed's plan (topology/plan.ts), moved from 10.1.0.0/16 to
 * the stack's own /16 (crm:dockerCidr, default 10.2.0.0/16). Moved, not reused: Docker networks
 * need subnets no other bridge on the machine has, and the vnx stack's bridges hold 10.1.x, so
 * both stacks can be up at once. Host octets, names and roles stay the seed's.
 */
import type { AllowRule, FirewallPolicy } from "../../roles/firewall";
import { SCENARIO_CIDR, type HostPlan, type Lan } from "../../topology/plan";

const SEED_PREFIX = SCENARIO_CIDR.split(".").slice(0, 2).join(".") + ".";

/** Moves an address or CIDR of the seed's range into `cidr` (a /16); anything else is left as it is. */
export function moveAddress(value: string, cidr: string): string {
  if (!value.startsWith(SEED_PREFIX)) return value;
  return cidr.split(".").slice(0, 2).join(".") + "." + value.slice(SEED_PREFIX.length);
}

export function moveHost(host: HostPlan, cidr: string): HostPlan {
  return {
    ...host,
    nics: host.nics.map((n) => ({ ...n, address: moveAddress(n.address, cidr) })),
    routes: host.routes.map((r) => ({ to: moveAddress(r.to, cidr), via: moveAddress(r.via, cidr) })),
  };
}

function moveRule(rule: AllowRule, cidr: string): AllowRule {
  return { ...rule, to: moveAddress(rule.to, cidr), ...(rule.from ? { from: moveAddress(rule.from, cidr) } : {}) };
}

export function movePolicy(policy: FirewallPolicy, cidr: string): FirewallPolicy {
  return { forward: policy.forward.map((r) => moveRule(r, cidr)), input: policy.input.map((r) => moveRule(r, cidr)) };
}

/** A LAN's subnet and the address the machine's bridge takes on it (.254: the plan never uses it). */
export function lanSubnet(lan: Lan, cidr: string): { subnet: string; gateway: string } {
  const prefix = `${cidr.split(".").slice(0, 2).join(".")}.${lan.slice(3)}`;
  return { subnet: `${prefix}.0/24`, gateway: `${prefix}.254` };
}

/** The address inside hosts use to reach a host: on the front LAN if it has one, then the back LAN, then the DMZ (fw). */
export function insideAddress(host: HostPlan): string {
  const preference: readonly Lan[] = ["lan3", "lan4", "lan2", "lan1"];
  const [nic] = [...host.nics].sort((a, b) => preference.indexOf(a.lan) - preference.indexOf(b.lan));
  return nic.address;
}
