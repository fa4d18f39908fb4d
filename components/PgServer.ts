import * as pulumi from "@pulumi/pulumi";
import type { PasswordEncryption } from "../roles/db";
import { PG_PORT, type HostPlan } from "../topology/plan";
import type { DatabaseBackupSpec, DatabaseNode, Platform } from "../targets/platform";

export interface PgServerArgs {
  readonly platform: Platform;
  /** The primary's host. */
  readonly host: HostPlan;
  /** A streaming-replication standby, when enabled. @default none */
  readonly standby?: HostPlan;
  /** App servers allowed to connect (one pg_hba line each). */
  readonly clients: readonly HostPlan[];
  /** @default "crm" */
  readonly database?: string;
  /** @default "crm" */
  readonly user?: string;
  /** The user's password; stays secret from config to the host. */
  readonly password: pulumi.Input<string>;
  /** md5 for an app whose driver has no SCRAM. @default "scram-sha-256" */
  readonly passwordEncryption?: PasswordEncryption;
  /** With a standby: the third etcd member's host. */
  readonly witness?: HostPlan;
  /** Backups to the storage hosts. @default none */
  readonly backup?: DatabaseBackupSpec;
  /** The Nagios host, when there is one: NRPE on the database hosts answers it. @default none */
  readonly monitor?: HostPlan;
  /** Resources the database waits for (the storage hosts that hold its backups and witness). */
  readonly dependsOn?: pulumi.Resource[];
}

/** A postgres:// URL; the password is percent-encoded so any character is safe in it. */
export function postgresUrl(parts: { user: string; password: string; host: string; database: string }): string {
  return `postgres://${encodeURIComponent(parts.user)}:${encodeURIComponent(parts.password)}@${parts.host}:${PG_PORT}/${encodeURIComponent(parts.database)}`;
}

/** PostgreSQL for the CRM: listens on the back LAN only and accepts only the app servers. */
export class PgServer extends pulumi.ComponentResource {
  public readonly address: pulumi.Output<string>;
  /** Secret: the URL the app servers use (DATABASE_URL). */
  public readonly databaseUrl: pulumi.Output<string>;
  public readonly ready: pulumi.Resource[];
  /** With a replicated pair: the nodes each app server's local proxy follows (DATABASE_URL points at the proxy). */
  public readonly proxy?: readonly DatabaseNode[];
  /** The target backs the database up itself (pgBackRest), rather than a cloud service or nobody. */
  public readonly backedUp: boolean;

  constructor(name: string, args: PgServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("crm:db:PgServer", name, {}, opts);
    const database = args.database ?? "crm";
    const user = args.user ?? "crm";
    if (args.clients.length === 0) throw new pulumi.ResourceError("PgServer needs at least one client host", this);
    if (args.standby && !args.witness)
      throw new pulumi.ResourceError("PgServer: a standby needs a witness host (etcd's third member)", this);
    const password = pulumi.secret(args.password);
    const realized = args.platform.database(
      name,
      {
        host: args.host,
        standby: args.standby,
        clients: args.clients,
        database,
        user,
        password,
        passwordEncryption: args.passwordEncryption ?? "scram-sha-256",
        witness: args.standby ? args.witness : undefined,
        backup: args.backup,
        monitor: args.monitor,
      },
      { parent: this, dependsOn: args.dependsOn },
    );
    this.address = realized.address;
    this.proxy = realized.proxy;
    this.backedUp = realized.backedUp ?? false;
    this.ready = [...realized.resources];
    this.databaseUrl = pulumi.secret(
      pulumi.all([realized.address, password]).apply(([host, pw]) => postgresUrl({ user, password: pw, host, database })),
    );
    this.registerOutputs({ address: this.address, databaseUrl: this.databaseUrl });
  }
}
