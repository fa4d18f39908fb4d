import * as pulumi from "@pulumi/pulumi";
import { HEALTH_PATH } from "../roles/app";
import { APP_PORT, type HostPlan } from "../topology/plan";
import type { AppSettings } from "../topology/settings";
import type { AppMember, DatabaseNode, Platform } from "../targets/platform";

export interface CrmTierArgs {
  readonly platform: Platform;
  /** One host per app server. */
  readonly servers: readonly HostPlan[];
  /** Secret: DATABASE_URL. */
  readonly databaseUrl: pulumi.Output<string>;
  /** The database nodes a local proxy on each server follows, when DATABASE_URL points at it. @default none */
  readonly databaseProxy?: readonly DatabaseNode[];
  readonly sessionSecret: pulumi.Output<string>;
  readonly adminPassword: pulumi.Output<string>;
  /** The uploads volume and the servers that serve it. */
  readonly storage: { readonly volume: string; readonly addresses: pulumi.Input<readonly string[]> };
  /** Another Node.js app instead of the project's CRM (crm:app): its port and health path are the tier's. */
  readonly app?: AppSettings;
  /** The load balancer hosts that a rollout drains each server from. */
  readonly balancers: readonly HostPlan[];
  /** Seconds a server may take to become healthy on a new release. @default 90 */
  readonly rolloutTimeout?: number;
  /** The load balancer terminates TLS: the CRM marks its cookies Secure and sends HSTS. @default false */
  readonly behindHttps?: boolean;
  /** Resources (database, storage) the servers must wait for. */
  readonly dependsOn?: pulumi.Resource[];
}

/** The CRM's stateless application servers. */
export class CrmTier extends pulumi.ComponentResource {
  public readonly members: readonly AppMember[];
  public readonly port: number;
  /** What answers 200 on a healthy server; undefined: only TCP connects can tell (a user's app without one). */
  public readonly healthPath?: string;
  public readonly ready: pulumi.Resource[];

  constructor(name: string, args: CrmTierArgs, opts?: pulumi.ComponentResourceOptions) {
    super("crm:app:CrmTier", name, {}, opts);
    if (args.servers.length === 0) throw new pulumi.ResourceError("CrmTier needs at least one server", this);
    this.port = args.app?.port ?? APP_PORT;
    this.healthPath = args.app ? args.app.healthPath : HEALTH_PATH;
    const realized = args.platform.appTier(
      name,
      {
        servers: args.servers,
        port: this.port,
        healthPath: this.healthPath,
        databaseUrl: args.databaseUrl,
        sessionSecret: args.sessionSecret,
        adminPassword: args.adminPassword,
        volume: args.storage.volume,
        storageAddresses: args.storage.addresses,
        databaseProxy: args.databaseProxy,
        balancers: args.balancers,
        rolloutTimeout: args.rolloutTimeout ?? 90,
        app: args.app,
        behindHttps: args.behindHttps ?? false,
      },
      { parent: this, dependsOn: args.dependsOn },
    );
    this.members = realized.members;
    this.ready = [...realized.resources];
    this.registerOutputs({ members: this.members.map((m) => m.name) });
  }
}
