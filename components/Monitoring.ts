import * as pulumi from "@pulumi/pulumi";
import type { HostPlan, VirtualAddress } from "../topology/plan";
import type { Platform } from "../targets/platform";

export interface MonitoringArgs {
  readonly platform: Platform;
  /** The monitoring host of the plan. */
  readonly host: HostPlan;
  /** Hosts to watch; checks follow each host's role. */
  readonly watched: readonly HostPlan[];
  /** Shared addresses of the front pairs, watched like hosts. @default none */
  readonly virtualAddresses?: readonly VirtualAddress[];
  /** Password of the web UI's `nagiosadmin`; stays secret. */
  readonly adminPassword: pulumi.Input<string>;
  /** The app servers' port and health path (none: a TCP check), as the app tier has them. */
  readonly app: { readonly port: number; readonly healthPath?: string };
  /** `patroni`: the pair's leader, replication lag and backups' age are watched too; `single`: the backups' age. @default PostgreSQL by TCP only */
  readonly database?: "single" | "patroni";
  readonly dependsOn?: pulumi.Resource[];
}

/** Nagios watching every host of the scenario, its page reachable from the clients through the firewall. */
export class Monitoring extends pulumi.ComponentResource {
  /** Where the clients open the monitoring page. */
  public readonly url: string;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("crm:ops:Monitoring", name, {}, opts);
    if (!args.platform.monitoring) {
      throw new pulumi.ResourceError(`crm:monitoring: the monitoring host is not available on ${args.platform.target}`, this);
    }
    args.platform.monitoring(
      name,
      {
        host: args.host,
        watched: args.watched,
        virtualAddresses: args.virtualAddresses ?? [],
        appPort: args.app.port,
        healthPath: args.app.healthPath,
        adminPassword: pulumi.secret(args.adminPassword),
        database: args.database,
      },
      { parent: this, dependsOn: args.dependsOn },
    );
    this.url = `http://${args.host.nics[0].address}/nagios4/`;
    this.registerOutputs({ url: this.url });
  }
}
