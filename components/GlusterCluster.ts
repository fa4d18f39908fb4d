import * as pulumi from "@pulumi/pulumi";
import type { HostPlan } from "../topology/plan";
import type { Platform } from "../targets/platform";

export interface GlusterClusterArgs {
  readonly platform: Platform;
  /** The storage hosts; a replica-3 volume needs exactly three. */
  readonly hosts: readonly HostPlan[];
  /** Hosts allowed to mount the volume (the app servers). */
  readonly clients: readonly HostPlan[];
  /** @default "nas" */
  readonly volume?: string;
  /** @default "/nas" */
  readonly brick?: string;
}

export const GLUSTER_REPLICAS = 3;

/** A replicated GlusterFS volume (replica 3, client quorum) for the CRM's uploads. */
export class GlusterCluster extends pulumi.ComponentResource {
  public readonly volume: string;
  public readonly addresses: pulumi.Output<string[]>;
  public readonly ready: pulumi.Resource[];

  constructor(name: string, args: GlusterClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("crm:storage:GlusterCluster", name, {}, opts);
    if (args.hosts.length !== GLUSTER_REPLICAS) {
      throw new pulumi.ResourceError(
        `GlusterCluster needs exactly ${GLUSTER_REPLICAS} hosts for replica ${GLUSTER_REPLICAS}, got ${args.hosts.length}`,
        this,
      );
    }
    this.volume = args.volume ?? "nas";
    const realized = args.platform.storage(
      name,
      { hosts: args.hosts, clients: args.clients, volume: this.volume, brick: args.brick ?? "/nas" },
      { parent: this },
    );
    this.addresses = realized.addresses;
    this.ready = [...realized.resources];
    this.registerOutputs({ volume: this.volume, addresses: this.addresses });
  }
}
