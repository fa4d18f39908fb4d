import * as pulumi from "@pulumi/pulumi";
import { validatePublicKey } from "../roles/management";
import type { HostPlan } from "../topology/plan";
import type { Platform } from "../targets/platform";

export interface ManagementHostArgs {
  readonly platform: Platform;
  /** The management host of the plan (ges). */
  readonly host: HostPlan;
  /** Operators' OpenSSH public keys: RSA ≥ 3072 bits or Ed25519; password login is off. */
  readonly authorizedKeys: readonly string[];
  /** Hosts the operators manage from it (named in its /etc/hosts). */
  readonly managed: readonly HostPlan[];
}

/** The management host: SSH with keys only, reachable from the admin network through the firewall. */
export class ManagementHost extends pulumi.ComponentResource {
  /** How an operator reaches it. */
  public readonly ssh: pulumi.Output<string>;

  constructor(name: string, args: ManagementHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("crm:ops:ManagementHost", name, {}, opts);
    if (!args.platform.management) {
      throw new pulumi.ResourceError(`crm:management: the management host is not available on ${args.platform.target}`, this);
    }
    const problems = args.authorizedKeys.map(validatePublicKey).filter((p) => p !== undefined);
    if (args.authorizedKeys.length === 0 || problems.length > 0) {
      throw new pulumi.ResourceError(`crm:managementKeys: ${problems.join("; ") || "at least one key is required"}`, this);
    }
    const realized = args.platform.management(
      name,
      { host: args.host, authorizedKeys: args.authorizedKeys, managed: args.managed },
      { parent: this },
    );
    this.ssh = pulumi.interpolate`ssh root@${realized.address ?? args.host.nics[0].address}`;
    this.registerOutputs({ ssh: this.ssh });
  }
}
