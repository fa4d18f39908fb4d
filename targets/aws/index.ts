/**
 * The aws target: the scenario in one VPC across three availability zones. The firewall
 * becomes security groups (and an ACL on the public subnets), the load balancer an ALB, every
 * other host an EC2 instance from Debian's AMI configured by cloud-init with the same role
 * script the vnx target runs; PostgreSQL may be RDS Multi-AZ instead (crm:awsDatabase).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { APP_PORT, hostsWithRole, PG_PORT, planScenario, type HostPlan, type Role } from "../../topology/plan";
import { SettingsError, type Settings } from "../../topology/settings";
import { cloudInstallApp } from "../cloudinit";
import type {
  AppTierSpec,
  DatabaseSpec,
  FirewallSpec,
  LoadBalancerSpec,
  Platform,
  RealizeOptions,
  Realized,
  RealizedAppTier,
  RealizedDatabase,
  RealizedLoadBalancer,
  RealizedStorage,
  StorageSpec,
} from "../platform";
import { entryFlows, forTier, scenarioFlows, type Tier } from "./flows";
import { createAwsHost, debianAmi, type HostContext } from "./host";
import { createNetwork, subnetIds, ZONES, type AwsNetwork, type SubnetTier } from "./network";
import { appCloudInit, dbCloudInit, nasCloudInits, type CloudInitInput } from "./roles";
import { createPublicNacl, createRules, createSecurityGroups, securityGroupRules, type SecurityGroups } from "./security";
import { appDownload, loadAwsSettings, unsupportedOnClouds, type AwsSettings } from "./settings";

/** Where each role of the plan lives on aws: its security group and its subnet tier. */
export const ROLE_PLACEMENT: Readonly<Partial<Record<Role, { tier: Tier; subnet: SubnetTier }>>> = {
  app: { tier: "app", subnet: "app" },
  nas: { tier: "nas", subnet: "data" },
  db: { tier: "db", subnet: "data" },
  management: { tier: "mgmt", subnet: "public" },
};

/** The problem with the settings for aws, or undefined (pure, tested). */
export function awsSettingsProblem(settings: Settings, aws: Pick<AwsSettings, "awsDatabase">): string | undefined {
  if (settings.dbStandby && aws.awsDatabase === "ec2")
    return "crm:dbStandby: on aws the standby is RDS Multi-AZ: set crm:awsDatabase to rds";
  return unsupportedOnClouds(settings, "aws");
}

/** RDS instance class from the EC2 type the user chose for the database host (db.t3.small for t3.small). */
export function rdsInstanceClass(instanceType: string): string {
  return instanceType.startsWith("db.") ? instanceType : `db.${instanceType}`;
}

export class AwsPlatform implements Platform {
  public readonly target = "aws";
  private readonly aws: AwsSettings;
  private readonly provider: aws.Provider;
  private readonly network: AwsNetwork;
  private readonly groups: SecurityGroups;
  private readonly tiers: Tier[];
  /** Every EC2 host's interface, by host name: made before any instance (see host.ts). */
  private readonly nics = new Map<string, aws.ec2.NetworkInterface>();
  private readonly ctx: HostContext;

  private readonly hosts: readonly HostPlan[];

  constructor(settings: Settings) {
    // The same plan index.ts derives: host names and roles are kept; addresses come from aws.
    this.hosts = planScenario(settings);
    this.aws = loadAwsSettings();
    const problem = awsSettingsProblem(settings, this.aws);
    if (problem) throw new SettingsError(problem);
    // An explicit provider: the region comes from this stack's config, never from the environment.
    this.provider = new aws.Provider("aws", { region: this.aws.awsRegion as aws.Region });
    this.network = createNetwork(this.aws.awsRegion, { provider: this.provider, natPerZone: this.aws.awsNatPerZone });
    this.tiers = ["lb", "app", "db", "nas", ...(settings.management ? (["mgmt"] as const) : [])];
    this.groups = createSecurityGroups(this.network.vpc.id, this.tiers, { provider: this.provider });
    this.ctx = { provider: this.provider, ami: debianAmi(this.provider), keyName: this.aws.awsKeyName };
    for (const host of this.ec2Hosts()) this.nics.set(host.name, this.createNic(host));
  }

  /** Hosts that are EC2 instances: the app servers, the bricks, the database unless RDS, the management host. */
  private ec2Hosts(): HostPlan[] {
    const ec2Db = this.aws.awsDatabase === "ec2" ? hostsWithRole(this.hosts, "db") : [];
    return [...hostsWithRole(this.hosts, "app"), ...hostsWithRole(this.hosts, "nas"), ...ec2Db, ...hostsWithRole(this.hosts, "management")];
  }

  /** A host's zone: hosts of one role are spread over the three zones in plan order. */
  private zoneOf(host: HostPlan): number {
    // By name: the components hand over their own copies of the plan's hosts.
    const index = hostsWithRole(this.hosts, host.role).findIndex((h) => h.name === host.name);
    if (index < 0) throw new Error(`host ${host.name} is not in the plan`);
    return index % ZONES;
  }

  private placement(host: HostPlan): { tier: Tier; subnet: aws.ec2.Subnet } {
    const place = ROLE_PLACEMENT[host.role];
    if (!place) throw new Error(`the aws target has no placement for role ${host.role}`);
    return { tier: place.tier, subnet: this.network.subnets[place.subnet][this.zoneOf(host)] };
  }

  private createNic(host: HostPlan): aws.ec2.NetworkInterface {
    const { tier, subnet } = this.placement(host);
    return new aws.ec2.NetworkInterface(
      `${host.name}-nic`,
      { subnetId: subnet.id, securityGroups: [forTier(this.groups, tier).id], tags: { Name: `crm-${host.name}` } },
      { provider: this.provider },
    );
  }

  private address(host: HostPlan): pulumi.Output<string> {
    const nic = this.nics.get(host.name);
    if (!nic) throw new Error(`host ${host.name} has no interface on aws`);
    return nic.privateIp;
  }

  private host(
    host: HostPlan,
    args: { cloudInit: pulumi.Input<CloudInitInput>; secret: boolean; volumeAt?: string; instanceType?: string; stateless: boolean },
    opts: RealizeOptions,
  ) {
    const nic = this.nics.get(host.name);
    if (!nic) throw new Error(`host ${host.name} has no interface on aws`);
    return createAwsHost(this.ctx, {
      host,
      nic,
      subnet: this.placement(host).subnet,
      instanceType: args.instanceType ?? this.aws.awsInstanceType,
      cloudInit: args.cloudInit,
      secret: args.secret,
      volume: args.volumeAt ? { sizeGiB: this.aws.awsVolumeSize, mountPoint: args.volumeAt } : undefined,
      replaceOnChange: args.stateless,
      parent: opts.parent,
      dependsOn: opts.dependsOn,
    });
  }

  firewall(_name: string, spec: FirewallSpec, opts: RealizeOptions): Realized {
    const o = { provider: this.provider, parent: opts.parent };
    const management = hostsWithRole(this.hosts, "management")[0];
    const flowOptions = { appPort: APP_PORT, managementAddress: management?.nics[0].address, hasManagement: management !== undefined };
    const rules = securityGroupRules(scenarioFlows(spec.policy, flowOptions), this.tiers, ["app", "db", "nas", "mgmt"]);
    const resources: pulumi.Resource[] = [...createRules(this.groups, rules, o)];
    resources.push(createPublicNacl(this.network.vpc.id, subnetIds(this.network, "public"), entryFlows(spec.policy, flowOptions), o));
    if (management) {
      // The fw's SSH forward to ges becomes a bastion in a public subnet, its group open to crm:adminCidr only.
      const bastion = this.host(
        management,
        { cloudInit: { hostname: management.name, role: "management" }, secret: false, stateless: true },
        opts,
      );
      const nic = this.nics.get(management.name)!;
      resources.push(
        ...bastion.resources,
        new aws.ec2.Eip(`${management.name}-ip`, { domain: "vpc", networkInterface: nic.id, tags: { Name: "crm-ges" } }, o),
      );
    }
    return { resources };
  }

  database(name: string, spec: DatabaseSpec, opts: RealizeOptions): RealizedDatabase {
    if (this.aws.awsDatabase === "rds") return this.rds(name, spec, opts);
    const listen = this.address(spec.host);
    const cloudInit = dbCloudInit(
      spec,
      listen,
      spec.clients.map((c) => this.address(c)),
    );
    const host = this.host(
      spec.host,
      { cloudInit, secret: true, volumeAt: "/var/lib/postgresql", instanceType: this.aws.awsDbInstanceType, stateless: false },
      opts,
    );
    return { resources: host.resources, address: listen };
  }

  /** RDS Multi-AZ: a synchronous standby in another zone and automatic failover, instead of the bbdd host. */
  private rds(name: string, spec: DatabaseSpec, opts: RealizeOptions): RealizedDatabase {
    const o = { provider: this.provider, parent: opts.parent };
    const subnets = new aws.rds.SubnetGroup(`${name}-subnets`, { subnetIds: subnetIds(this.network, "data") }, o);
    // The app's DATABASE_URL has no sslmode, and PostgreSQL 15+ on RDS forces TLS by default; traffic
    // stays between two security groups inside the VPC (see docs/clouds.md, weak points).
    const parameters = new aws.rds.ParameterGroup(
      `${name}-params`,
      { family: "postgres17", parameters: [{ name: "rds.force_ssl", value: "0" }] },
      o,
    );
    const db = new aws.rds.Instance(
      name,
      {
        engine: "postgres",
        engineVersion: "17",
        instanceClass: rdsInstanceClass(this.aws.awsDbInstanceType),
        allocatedStorage: this.aws.awsVolumeSize,
        storageType: "gp3",
        storageEncrypted: true,
        multiAz: true,
        dbName: spec.database,
        username: spec.user,
        password: spec.password,
        port: PG_PORT,
        dbSubnetGroupName: subnets.name,
        parameterGroupName: parameters.name,
        vpcSecurityGroupIds: [forTier(this.groups, "db").id],
        publiclyAccessible: false,
        backupRetentionPeriod: 7,
        skipFinalSnapshot: false,
        finalSnapshotIdentifier: `crm-${name}-final`,
      },
      { ...o, dependsOn: opts.dependsOn },
    );
    return { resources: [db], address: db.address };
  }

  storage(_name: string, spec: StorageSpec, opts: RealizeOptions): RealizedStorage {
    const servers = spec.hosts.map((h) => this.address(h));
    const cloudInits = nasCloudInits(
      spec,
      servers,
      spec.clients.map((c) => this.address(c)),
    );
    const resources = spec.hosts.flatMap(
      (h, i) => this.host(h, { cloudInit: cloudInits[i], secret: false, volumeAt: spec.brick, stateless: false }, opts).resources,
    );
    return { resources, addresses: pulumi.all(servers) };
  }

  appTier(_name: string, spec: AppTierSpec, opts: RealizeOptions): RealizedAppTier {
    const installApp = cloudInstallApp(appDownload(this.aws));
    const resources = spec.servers.flatMap(
      (server) =>
        this.host(server, { cloudInit: appCloudInit(server, spec, this.address(server), installApp), secret: true, stateless: true }, opts)
          .resources,
    );
    return { resources, members: spec.servers.map((s) => ({ name: s.name, address: this.address(s) })) };
  }

  loadBalancer(name: string, spec: LoadBalancerSpec, opts: RealizeOptions): RealizedLoadBalancer {
    const o = { provider: this.provider, parent: opts.parent };
    const alb = new aws.lb.LoadBalancer(
      name,
      {
        loadBalancerType: "application",
        internal: false,
        subnets: subnetIds(this.network, "public"),
        securityGroups: [forTier(this.groups, "lb").id],
        // Below the app's keep-alive (65 s): the ALB, not the app, closes idle connections.
        idleTimeout: 60,
        dropInvalidHeaderFields: true,
      },
      o,
    );
    const targets = new aws.lb.TargetGroup(
      `${name}-app`,
      {
        vpcId: this.network.vpc.id,
        // By address: the members the components hand over are addresses, as HAProxy's are.
        targetType: "ip",
        port: spec.port,
        protocol: "HTTP",
        loadBalancingAlgorithmType: spec.algorithm === "roundrobin" ? "round_robin" : "least_outstanding_requests",
        deregistrationDelay: 30,
        healthCheck: {
          path: spec.healthPath,
          protocol: "HTTP",
          port: "traffic-port",
          interval: 5,
          timeout: 4,
          healthyThreshold: 2,
          unhealthyThreshold: 2,
          matcher: "200",
        },
      },
      o,
    );
    const listener = new aws.lb.Listener(
      `${name}-http`,
      { loadBalancerArn: alb.arn, port: 80, protocol: "HTTP", defaultActions: [{ type: "forward", targetGroupArn: targets.arn }] },
      o,
    );
    const attachments = spec.members.map(
      (m) =>
        new aws.lb.TargetGroupAttachment(
          `${name}-${m.name}`,
          { targetGroupArn: targets.arn, targetId: m.address, port: spec.port },
          { ...o, dependsOn: opts.dependsOn },
        ),
    );
    return { resources: [alb, targets, listener, ...attachments], url: pulumi.interpolate`http://${alb.dnsName}/` };
  }
}
