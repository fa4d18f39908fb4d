/**
 * What a target must provide to realize the scenario. The components (components/) are
 * backend-neutral: they validate, decide and name; a Platform turns each element into the
 * target's own resources. `targets/index.ts` chooses the platform, in one place.
 */
import * as pulumi from "@pulumi/pulumi";
import type { AllowRule, FirewallPolicy } from "../roles/firewall";
import type { PasswordEncryption } from "../roles/db";
import type { HostPlan, VirtualAddress } from "../topology/plan";
import type { AppSettings } from "../topology/settings";

export interface FirewallSpec {
  readonly policy: FirewallPolicy;
  /** The fw host of the plan (vnx realizes it as a host; clouds as security groups / ACLs). */
  readonly host: HostPlan;
  /** Its partner (fw2, crm:frontHa): the two share the gateway addresses and their connections' state. */
  readonly backup?: HostPlan;
}

export interface DatabaseSpec {
  readonly host: HostPlan;
  readonly standby?: HostPlan;
  readonly database: string;
  readonly user: string;
  readonly password: pulumi.Output<string>;
  /** How the app user's password is stored: md5 for drivers without SCRAM (crm:app.md5Passwords). */
  readonly passwordEncryption: PasswordEncryption;
  /** App servers allowed to connect. */
  readonly clients: readonly HostPlan[];
  /** With a standby that the target runs itself (vnx: Patroni): etcd's third member, a host that exists anyway (docs/database.md). A managed standby (RDS) needs none. */
  readonly witness?: HostPlan;
  /** Backups: the storage hosts that serve their repository volume, and how many full backups to keep. */
  readonly backup?: DatabaseBackupSpec;
  /** The Nagios host (crm:monitoring): the only one that may ask the database hosts for their backups' age. */
  readonly monitor?: HostPlan;
}

export interface DatabaseBackupSpec {
  readonly storage: readonly HostPlan[];
  /** What must exist before the storage hosts serve a new volume (their Gluster cluster). */
  readonly ready: readonly pulumi.Resource[];
  readonly retentionFull: number;
}

/** A database node that the app servers' local proxy asks which one leads. */
export interface DatabaseNode {
  readonly name: string;
  readonly address: string;
}

export interface StorageSpec {
  readonly hosts: readonly HostPlan[];
  readonly volume: string;
  readonly brick: string;
  /** App servers allowed to mount the volume. */
  readonly clients: readonly HostPlan[];
}

export interface AppTierSpec {
  readonly servers: readonly HostPlan[];
  readonly port: number;
  /** Answers 200 when a server is healthy; without one (a user's app may have none), TCP connects. */
  readonly healthPath?: string;
  readonly databaseUrl: pulumi.Output<string>;
  readonly sessionSecret: pulumi.Output<string>;
  readonly adminPassword: pulumi.Output<string>;
  readonly volume: string;
  readonly storageAddresses: pulumi.Input<readonly string[]>;
  /** The database nodes each server's local proxy follows, when DATABASE_URL points at that proxy. */
  readonly databaseProxy?: readonly DatabaseNode[];
  /** The load balancers in front of the servers (two with crm:frontHa): a rollout takes each server out of every one while it restarts. */
  readonly balancers: readonly HostPlan[];
  /** Seconds a server may take to become healthy on a new release before the rollout stops and rolls it back. */
  readonly rolloutTimeout: number;
  /** Another app instead of the project's CRM (crm:app). */
  readonly app?: AppSettings;
  /**
   * The balancer in front terminates TLS (issue 12): the project's CRM then marks its cookies
   * Secure and sends HSTS (COOKIE_SECURE=true); it sees plain HTTP with X-Forwarded-Proto https.
   * @default false
   */
  readonly behindHttps?: boolean;
}

export interface LoadBalancerSpec {
  readonly host: HostPlan;
  /** Its partner (lb2, crm:frontHa): the two share the service address. */
  readonly backup?: HostPlan;
  readonly algorithm: "roundrobin" | "leastconn";
  readonly healthPath?: string;
  readonly port: number;
  readonly members: readonly AppMember[];
  /** Entry rules the load balancer's public side must allow (TCP/80, TCP/443, ICMP echo). */
  readonly entry: readonly AllowRule[];
  /** HTTPS at the balancer: TLS terminated there, HTTP redirected to HTTPS. Absent: HTTP only. */
  readonly tls?: TlsSpec;
}

/** What a service certificate names: the addresses and host names clients reach the service at. */
export interface TlsSubject {
  readonly ipAddresses?: pulumi.Input<string>[];
  readonly dnsNames?: pulumi.Input<string>[];
}

/** A certificate (PEM, the leaf first, then any intermediates) and its private key (PEM, a secret). */
export interface IssuedCertificate {
  readonly certificatePem: pulumi.Output<string>;
  readonly privateKeyPem: pulumi.Output<string>;
}

/** HTTPS at the balancer (issue 12): where a target gets its service certificate. */
export interface TlsSpec {
  /** The CA that signs the service certificates (the stack's own, or the user's chain root), PEM. */
  readonly caCertificatePem: pulumi.Output<string>;
  /** The user's own certificate and key (crm:tlsCertificate / crm:tlsKey), when given. */
  readonly own?: IssuedCertificate;
  /**
   * A certificate for these addresses/names: signed by the stack's CA, or the user's own as is
   * (after checking that it covers them; a check fails naming crm:tlsCertificate). For a target
   * whose service address is known only at deploy time (openstack's floating IP), pass it as an
   * Output. Its resources are named from `name` and parented as `opts` says.
   */
  issue(name: string, subject: TlsSubject, opts: pulumi.CustomResourceOptions): IssuedCertificate;
}

export interface AppMember {
  readonly name: string;
  readonly address: pulumi.Input<string>;
}

export interface MonitoringSpec {
  readonly host: HostPlan;
  /** Every host to watch, with its role (the checks follow the role). */
  readonly watched: readonly HostPlan[];
  /** Shared addresses of the pairs (crm:frontHa), watched like hosts of their role. */
  readonly virtualAddresses: readonly VirtualAddress[];
  readonly appPort: number;
  readonly healthPath?: string;
  readonly adminPassword: pulumi.Output<string>;
  /** What runs on the db hosts (roles/monitor.ts MonitorArgs.database). @default a TCP check of PostgreSQL */
  readonly database?: "single" | "patroni";
}

export interface ManagementSpec {
  readonly host: HostPlan;
  readonly authorizedKeys: readonly string[];
  readonly managed: readonly HostPlan[];
}

/** What each realization hands back: resources to order after, and addresses to publish. */
export interface Realized {
  readonly resources: readonly pulumi.Resource[];
}
export interface RealizedDatabase extends Realized {
  /** Where the app connects: the server, or (a replicated pair) a proxy on each app server. */
  readonly address: pulumi.Output<string>;
  /** With a proxy on each app server: the nodes it follows. */
  readonly proxy?: readonly DatabaseNode[];
  /** pgBackRest backs up the database on its own hosts: Nagios (when enabled) checks the last backup's age. */
  readonly backedUp?: boolean;
}
export interface RealizedStorage extends Realized {
  readonly addresses: pulumi.Output<string[]>;
}
export interface RealizedAppTier extends Realized {
  readonly members: readonly AppMember[];
}
export interface RealizedLoadBalancer extends Realized {
  readonly url: pulumi.Output<string>;
}
export interface RealizedManagement extends Realized {
  /** Where operators reach the host, when the target gives it an address of its own (a cloud's public IP). */
  readonly address?: pulumi.Output<string>;
}

export interface RealizeOptions {
  readonly parent: pulumi.Resource;
  readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
}

export interface Platform {
  readonly target: string;
  firewall(name: string, spec: FirewallSpec, opts: RealizeOptions): Realized;
  database(name: string, spec: DatabaseSpec, opts: RealizeOptions): RealizedDatabase;
  storage(name: string, spec: StorageSpec, opts: RealizeOptions): RealizedStorage;
  appTier(name: string, spec: AppTierSpec, opts: RealizeOptions): RealizedAppTier;
  loadBalancer(name: string, spec: LoadBalancerSpec, opts: RealizeOptions): RealizedLoadBalancer;
  /** The Nagios host (optional part 2), where the target realizes it. */
  monitoring?(name: string, spec: MonitoringSpec, opts: RealizeOptions): Realized;
  /** The SSH management host (optional part 6), where the target realizes it as its own role. */
  management?(name: string, spec: ManagementSpec, opts: RealizeOptions): RealizedManagement;
  /**
   * Client hosts on the outside LAN, where the target has an outside of its own (vnx); clouds use
   * the Internet. With `trustedCa` (PEM), they trust that CA, as a user who installed it would.
   */
  clients?(hosts: readonly HostPlan[], trustedCa?: pulumi.Input<string>): Realized;
}
