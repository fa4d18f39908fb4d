import * as pulumi from "@pulumi/pulumi";
import { ruleProblem, type AllowRule, type FirewallPolicy } from "../roles/firewall";
import { FIREWALL_INSIDE, FIREWALL_OUTSIDE, HTTP_PORT, HTTPS_PORT, LANS, SERVICE_ADDRESS, type HostPlan } from "../topology/plan";
import type { Platform } from "../targets/platform";

export interface FirewallArgs {
  /** The target that realizes the firewall (nftables on a host, or security groups and ACLs). */
  readonly platform: Platform;
  /** The firewall host of the address plan. */
  readonly host: HostPlan;
  /** A second firewall sharing the gateway addresses and the connections' state (crm:frontHa). @default none */
  readonly backup?: HostPlan;
  /**
   * What is let through. @default {@link scenarioPolicy} with no optional parts: ICMP echo,
   * TCP/80 and TCP/443 to the load balancer, and ping of the firewall from LAN1; nothing else.
   */
  readonly policy?: FirewallPolicy;
}

export interface OptionalEntries {
  /** The monitoring page (TCP/80 on the nagios host), from adminCidr. */
  readonly monitoring?: string;
  /** SSH to the management host, from adminCidr. */
  readonly management?: string;
  readonly adminCidr?: string;
  /** The firewalls' DMZ addresses the monitoring host pings (both members' own, and the shared one). @default the single firewall's */
  readonly firewallInside?: readonly string[];
}

/**
 * The seed's policy: only ping and web to the load balancer; plus the optional parts' entries.
 * Web is HTTPS (443) and HTTP (80), which the balancer only redirects to HTTPS: a user who types
 * the bare address still arrives.
 */
export function scenarioPolicy(optional: OptionalEntries = {}): FirewallPolicy {
  const from = optional.adminCidr;
  const forward: AllowRule[] = [
    { description: "ping the service", protocol: "icmp-echo", to: SERVICE_ADDRESS },
    { description: "web to the load balancer", protocol: "tcp", to: SERVICE_ADDRESS, port: HTTP_PORT },
    { description: "web over TLS to the load balancer", protocol: "tcp", to: SERVICE_ADDRESS, port: HTTPS_PORT },
  ];
  if (optional.monitoring) forward.push({ description: "monitoring page", protocol: "tcp", to: optional.monitoring, port: 80, from });
  if (optional.management)
    forward.push({ description: "ssh to the management host", protocol: "tcp", to: optional.management, port: 22, from });
  const input: AllowRule[] = [
    { description: "ping the firewall from outside", protocol: "icmp-echo", to: FIREWALL_OUTSIDE, from: LANS.lan1.cidr },
  ];
  // Nagios checks that the firewall is alive from the inside, on its DMZ address(es).
  if (optional.monitoring)
    for (const to of optional.firewallInside ?? [FIREWALL_INSIDE])
      input.push({ description: "ping from the monitoring host", protocol: "icmp-echo", to, from: `${optional.monitoring}/32` });
  return { forward, input };
}

/** The stateful entry firewall: drops everything but the policy's flows. */
export class Firewall extends pulumi.ComponentResource {
  /** The rules in force, as data (the clouds' security groups mirror them). */
  public readonly policy: FirewallPolicy;

  constructor(name: string, args: FirewallArgs, opts?: pulumi.ComponentResourceOptions) {
    super("crm:net:Firewall", name, {}, opts);
    this.policy = args.policy ?? scenarioPolicy();
    const problems = [...this.policy.forward, ...this.policy.input].map(ruleProblem).filter((p) => p !== undefined);
    if (problems.length > 0) throw new pulumi.ResourceError(`invalid firewall rules: ${problems.join("; ")}`, this);
    args.platform.firewall(name, { policy: this.policy, host: args.host, backup: args.backup }, { parent: this });
    this.registerOutputs({ policy: this.policy });
  }
}
