import * as pulumi from "@pulumi/pulumi";
import type { AllowRule } from "../roles/firewall";
import type { HostPlan } from "../topology/plan";
import type { AppMember, Platform, TlsSpec } from "../targets/platform";

export interface LoadBalancerArgs {
  readonly platform: Platform;
  /** The balancer host of the plan (vnx; clouds use their managed balancers where chosen). */
  readonly host: HostPlan;
  /** A second balancer sharing the service address (crm:frontHa). @default none */
  readonly backup?: HostPlan;
  readonly members: readonly AppMember[];
  readonly port: number;
  /** The members' health path (200 = healthy); none: TCP checks. */
  readonly healthPath?: string;
  /** @default "roundrobin" */
  readonly algorithm?: "roundrobin" | "leastconn";
  /** Entry rules of the public side (the firewall's forward rules). */
  readonly entry: readonly AllowRule[];
  /** HTTPS with certificates from this CA (or the user's own), HTTP redirected to it. @default none: HTTP only */
  readonly tls?: TlsSpec;
  readonly dependsOn?: pulumi.Resource[];
}

/** Spreads requests over the app servers, with health checks and retries. */
export class LoadBalancer extends pulumi.ComponentResource {
  public readonly url: pulumi.Output<string>;

  constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("crm:net:LoadBalancer", name, {}, opts);
    if (args.members.length === 0) throw new pulumi.ResourceError("LoadBalancer needs at least one member", this);
    const realized = args.platform.loadBalancer(
      name,
      {
        host: args.host,
        backup: args.backup,
        members: args.members,
        port: args.port,
        algorithm: args.algorithm ?? "roundrobin",
        healthPath: args.healthPath,
        entry: args.entry,
        tls: args.tls,
      },
      { parent: this, dependsOn: args.dependsOn },
    );
    this.url = realized.url;
    this.registerOutputs({ url: this.url });
  }
}
