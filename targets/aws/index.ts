/**
 * The aws target: the scenario in one VPC across three availability zones. The firewall
 * becomes security groups (and an ACL on the public subnets), the load balancer an ALB, every
 * other host an EC2 instance from a pinned Debian 13 AMI configured by cloud-init with the same
 * role script the vnx target runs; PostgreSQL may be RDS Multi-AZ instead (crm:awsDatabase).
 * The app bundle (with Node.js) is built here and served to the app servers from S3.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { APP_PORT, hostsWithRole, HTTP_PORT, HTTPS_PORT, PG_PORT, type HostPlan, type Role } from "../../topology/plan";
import { SettingsError, type Settings } from "../../topology/settings";
import { AppBundle, bundleObjectKey } from "../cloud/bundle";
import { cloudInstallApp } from "../cloud/cloudinit";
import { entryFlows, forTier, scenarioFlows, WEB_OUTBOUND, type Tier } from "../cloud/flows";
import { securityGroupRules } from "../cloud/rules";
import { unsupportedOnClouds } from "../cloud/settings";
import { ownCertificateDomainProblem } from "../cloud/tls";
import {
  appCloudInit,
  brickKeeps,
  DB_KEEPS,
  dbCloudInit,
  managementCloudInit,
  nasCloudInits,
  type CloudInitInput,
} from "../cloud/userData";
import type {
  AppTierSpec,
  DatabaseSpec,
  FirewallSpec,
  LoadBalancerSpec,
  ManagementSpec,
  Platform,
  RealizeOptions,
  Realized,
  RealizedAppTier,
  RealizedDatabase,
  RealizedLoadBalancer,
  RealizedManagement,
  RealizedStorage,
  StorageSpec,
} from "../platform";
import { objectReadPolicy, policyDocument, rdsAppUserStep, s3FetchCommand, secretReadPolicy, ssmAgentStep } from "./delivery";
import { createAwsHost, createInstanceProfile, type AwsHost, type AwsHostArgs } from "./host";
import { AwsNetwork, fixedAddress, tierCidr, ZONES, type SubnetTier } from "./network";
import { createPublicNacl, createRules } from "./security";
import { loadAwsSettings, type AwsSettings } from "./settings";
import {
  ALB_SSL_POLICY,
  awsCertificatePlan,
  awsTlsProblem,
  createDomainAlias,
  createServiceCertificate,
  HTTP_ONLY_WARNING,
  REDIRECT_TO_HTTPS,
  withoutHttps,
  type AwsCertificatePlan,
} from "./tls";

/** Where each role of the plan lives on aws: its security group and its subnet tier. */
export const ROLE_PLACEMENT: Readonly<Partial<Record<Role, { tier: Tier; subnet: SubnetTier }>>> = {
  app: { tier: "app", subnet: "app" },
  nas: { tier: "nas", subnet: "data" },
  db: { tier: "db", subnet: "data" },
  management: { tier: "mgmt", subnet: "public" },
};

/** The problem with the settings for aws, or undefined (pure, tested). */
export function awsSettingsProblem(settings: Settings, aws: Pick<AwsSettings, "awsDatabase" | "domain" | "awsZoneId">): string | undefined {
  if (settings.dbStandby && aws.awsDatabase === "ec2")
    return "crm:dbStandby: on aws the standby is RDS Multi-AZ: set crm:awsDatabase to rds";
  return awsTlsProblem(aws) ?? ownCertificateDomainProblem(settings.tlsCertificate, aws.domain) ?? unsupportedOnClouds(settings, "aws");
}

/** RDS instance class from the EC2 type the user chose for the database host (db.t3.small for t3.small). */
export function rdsInstanceClass(instanceType: string): string {
  return instanceType.startsWith("db.") ? instanceType : `db.${instanceType}`;
}

/** A host's zone: hosts of one role are spread over the three zones in plan order (pure). */
export function zoneOf(hosts: readonly HostPlan[], host: HostPlan): number {
  // By name: the components hand over their own copies of the plan's hosts.
  const index = hostsWithRole(hosts, host.role).findIndex((h) => h.name === host.name);
  if (index < 0) throw new Error(`host ${host.name} is not in the plan`);
  return index % ZONES;
}

/** The RDS master user: RDS keeps its password in Secrets Manager; the app has a user of its own. */
export function rdsMasterUser(appUser: string): string {
  return `${appUser}_admin`;
}

/** What the app servers need from an RDS database: where it is and whose secret lets them add the app's user. */
interface RdsDatabase {
  readonly instance: aws.rds.Instance;
  readonly masterSecretArn: pulumi.Output<string>;
  readonly spec: DatabaseSpec;
}

export class AwsPlatform implements Platform {
  public readonly target = "aws";
  private readonly aws: AwsSettings;
  private readonly provider: aws.Provider;
  private readonly network: AwsNetwork;
  private readonly tiers: Tier[];
  /** The SSM agent, on every EC2 host. */
  private readonly steps: readonly string[];
  /** Set by database() with crm:awsDatabase rds: appTier() gives the app its own user there. */
  private rdsDatabase?: RdsDatabase;
  /**
   * Where the ALB's certificate comes from, decided here because three elements follow it: the
   * entry rules (443 only with HTTPS), the app's cookies (Secure only with HTTPS) and the listeners.
   */
  private readonly certificate: AwsCertificatePlan;

  constructor(
    settings: Settings,
    /** The plan index.ts derived: host names, roles and zones come from it; addresses from aws. */
    private readonly hosts: readonly HostPlan[],
  ) {
    this.aws = loadAwsSettings();
    const problem = awsSettingsProblem(settings, this.aws);
    if (problem) throw new SettingsError(problem);
    // An explicit provider: the region comes from this stack's config, never from the environment.
    this.provider = new aws.Provider("aws", { region: this.aws.awsRegion as aws.Region });
    this.tiers = ["lb", "app", "db", "nas", ...(settings.management ? (["mgmt"] as const) : [])];
    this.network = new AwsNetwork(
      "net",
      { region: this.aws.awsRegion, natPerZone: this.aws.awsNatPerZone, tiers: this.tiers },
      { provider: this.provider },
    );
    this.steps = [ssmAgentStep(this.aws.awsRegion)];
    this.certificate = awsCertificatePlan(settings.tlsCertificate !== undefined, this.aws);
    if (this.certificate.kind === "none") pulumi.log.warn(HTTP_ONLY_WARNING);
  }

  private place(host: HostPlan): { tier: Tier; subnetTier: SubnetTier; zone: number } {
    const place = ROLE_PLACEMENT[host.role];
    if (!place) throw new Error(`the aws target has no placement for role ${host.role}`);
    return { tier: place.tier, subnetTier: place.subnet, zone: zoneOf(this.hosts, host) };
  }

  /** The fixed private address of a host that keeps one (database, bricks, management host). */
  private fixedAddressOf(host: HostPlan): string {
    const { subnetTier, zone } = this.place(host);
    return fixedAddress(subnetTier, zone, host.nics[0].address);
  }

  private host(
    name: string,
    host: HostPlan,
    args: Pick<AwsHostArgs, "cloudInit" | "secret" | "profile" | "onUserDataChange"> & {
      fixed: boolean;
      keeps?: readonly string[];
      instanceType?: string;
    },
    opts: RealizeOptions,
  ): AwsHost {
    const { tier, subnetTier, zone } = this.place(host);
    return createAwsHost(
      name,
      {
        host,
        subnet: this.network.subnets[subnetTier][zone],
        securityGroup: forTier(this.network.groups, tier),
        fixedAddress: args.fixed ? this.fixedAddressOf(host) : undefined,
        ami: this.aws.awsAmi,
        instanceType: args.instanceType ?? this.aws.awsInstanceType,
        keyName: this.aws.awsKeyName,
        profile: args.profile,
        cloudInit: args.cloudInit,
        secret: args.secret,
        volume: args.keeps ? { sizeGiB: this.aws.awsVolumeSize, keeps: args.keeps } : undefined,
        onUserDataChange: args.onUserDataChange,
      },
      { parent: opts.parent, provider: this.provider, dependsOn: opts.dependsOn },
    );
  }

  private opts(opts: RealizeOptions) {
    return { provider: this.provider, parent: opts.parent };
  }

  firewall(name: string, spec: FirewallSpec, opts: RealizeOptions): Realized {
    const o = this.opts(opts);
    const management = hostsWithRole(this.hosts, "management")[0];
    const flowOptions = { appPort: APP_PORT, managementAddress: management?.nics[0].address, hasManagement: management !== undefined };
    const outbound = { tiers: ["app", "db", "nas", "mgmt"] as const, allowed: WEB_OUTBOUND };
    // Without a certificate nothing listens on 443: the groups and the ACL do not open it either.
    const policy = this.certificate.kind === "none" ? withoutHttps(spec.policy) : spec.policy;
    const rules = securityGroupRules(scenarioFlows(policy, flowOptions), this.tiers, outbound);
    return {
      resources: [
        ...createRules(name, this.network.groups, rules, o),
        createPublicNacl(name, this.network.vpc.id, this.network.subnetIds("public"), entryFlows(policy, flowOptions), o),
      ],
    };
  }

  database(name: string, spec: DatabaseSpec, opts: RealizeOptions): RealizedDatabase {
    if (this.aws.awsDatabase === "rds") return this.rds(name, spec, opts);
    const listen = this.fixedAddressOf(spec.host);
    const host = this.host(
      `${name}-${spec.host.name}`,
      spec.host,
      {
        cloudInit: dbCloudInit(spec, listen, tierCidr("app"), this.steps),
        secret: true,
        profile: createInstanceProfile(`${name}-host`, undefined, this.opts(opts)),
        onUserDataChange: "ignore",
        fixed: true,
        keeps: DB_KEEPS,
        instanceType: this.aws.awsDbInstanceType,
      },
      opts,
    );
    return { resources: host.resources, address: pulumi.output(listen) };
  }

  /** RDS Multi-AZ: a synchronous standby in another zone and automatic failover, instead of the bbdd host. */
  private rds(name: string, spec: DatabaseSpec, opts: RealizeOptions): RealizedDatabase {
    const o = this.opts(opts);
    // Auto-named (a random suffix once per creation): its name makes the final snapshot's unique per stack lifetime.
    const subnets = new aws.rds.SubnetGroup(`${name}-subnets`, { subnetIds: this.network.subnetIds("data") }, o);
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
        // Never the app's user: the app gets its own (appTier), and this password never enters the stack.
        username: rdsMasterUser(spec.user),
        manageMasterUserPassword: true,
        port: PG_PORT,
        dbSubnetGroupName: subnets.name,
        parameterGroupName: parameters.name,
        vpcSecurityGroupIds: [forTier(this.network.groups, "db").id],
        publiclyAccessible: false,
        backupRetentionPeriod: 7,
        skipFinalSnapshot: false,
        // A fixed name would collide on the second destroy of a stack of that name.
        finalSnapshotIdentifier: pulumi.interpolate`${subnets.name}-final`,
      },
      { ...o, dependsOn: opts.dependsOn },
    );
    const masterSecretArn = db.masterUserSecrets.apply((secrets) => {
      if (secrets.length === 0) throw new Error("RDS returned no master user secret");
      return secrets[0].secretArn;
    });
    this.rdsDatabase = { instance: db, masterSecretArn, spec };
    return { resources: [db], address: db.address };
  }

  /** With RDS: the step that gives the app its own user, and the right to read the master's secret for it. */
  private rdsAccess(): { steps: pulumi.Output<readonly string[]>; statements: pulumi.Output<Record<string, unknown>[]> } {
    const rds = this.rdsDatabase;
    if (this.aws.awsDatabase !== "rds") return { steps: pulumi.output(this.steps), statements: pulumi.output([]) };
    if (!rds) throw new Error("aws: database() must come before appTier() with crm:awsDatabase rds");
    return {
      steps: pulumi.all([rds.masterSecretArn, rds.instance.address, rds.spec.password]).apply(([masterSecretArn, host, password]) => [
        ...this.steps,
        rdsAppUserStep({
          region: this.aws.awsRegion,
          masterSecretArn,
          host,
          port: PG_PORT,
          database: rds.spec.database,
          user: rds.spec.user,
          password,
        }),
      ]),
      statements: rds.masterSecretArn.apply((arn) => [secretReadPolicy(arn)]),
    };
  }

  storage(name: string, spec: StorageSpec, opts: RealizeOptions): RealizedStorage {
    const servers = spec.hosts.map((h) => this.fixedAddressOf(h));
    const cloudInits = nasCloudInits(spec, servers, tierCidr("app"), this.steps);
    const profile = createInstanceProfile(`${name}-host`, undefined, this.opts(opts));
    const resources = spec.hosts.flatMap(
      (h, i) =>
        this.host(
          `${name}-${h.name}`,
          h,
          { cloudInit: cloudInits[i], secret: false, profile, onUserDataChange: "ignore", fixed: true, keeps: brickKeeps(spec.brick) },
          opts,
        ).resources,
    );
    return { resources, addresses: pulumi.output(servers) };
  }

  appTier(name: string, spec: AppTierSpec, opts: RealizeOptions): RealizedAppTier {
    const o = this.opts(opts);
    // Secure cookies over plain HTTP would never come back: the ALB terminates TLS only with a certificate.
    const tier: AppTierSpec = { ...spec, behindHttps: spec.behindHttps === true && this.certificate.kind !== "none" };
    const bucket = new aws.s3.Bucket(`${name}-bundle`, { forceDestroy: true, tags: { Name: `${name}-bundle` } }, o);
    const privateBucket = new aws.s3.BucketPublicAccessBlock(
      `${name}-bundle`,
      { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
      o,
    );
    const bundle = new AppBundle(`${name}-bundle`, { parent: opts.parent });
    const key = bundle.sha256.apply(bundleObjectKey);
    const object = new aws.s3.BucketObjectv2(
      `${name}-bundle`,
      { bucket: bucket.id, key, source: bundle.archive.apply((p) => new pulumi.asset.FileAsset(p)), serverSideEncryption: "AES256" },
      { ...o, dependsOn: [privateBucket] },
    );
    const rds = this.rdsAccess();
    const profile = createInstanceProfile(
      `${name}-host`,
      pulumi.all([bucket.arn, key, rds.statements]).apply(([arn, k, more]) => policyDocument([objectReadPolicy(arn, k), ...more])),
      o,
    );
    const installApp = pulumi
      .all([bucket.bucket, key, bundle.sha256])
      .apply(([b, k, digest]) => cloudInstallApp({ fetch: s3FetchCommand({ region: this.aws.awsRegion, bucket: b, key: k }), digest }));
    const hosts = spec.servers.map((server) =>
      this.host(
        `${name}-${server.name}`,
        server,
        { cloudInit: appCloudInit(server, tier, installApp, rds.steps), secret: true, profile, onUserDataChange: "replace", fixed: false },
        { ...opts, dependsOn: [...(opts.dependsOn ?? []), object] },
      ),
    );
    return {
      resources: [object, ...hosts.flatMap((h) => h.resources)],
      members: spec.servers.map((s, i) => ({ name: s.name, address: hosts[i].instance.privateIp })),
    };
  }

  loadBalancer(name: string, spec: LoadBalancerSpec, opts: RealizeOptions): RealizedLoadBalancer {
    const o = this.opts(opts);
    const alb = new aws.lb.LoadBalancer(
      name,
      {
        loadBalancerType: "application",
        internal: false,
        subnets: this.network.subnetIds("public"),
        securityGroups: [forTier(this.network.groups, "lb").id],
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
    const https = this.certificate.kind === "none" || !spec.tls ? undefined : this.certificate;
    const forward: aws.types.input.lb.ListenerDefaultAction = { type: "forward", targetGroupArn: targets.arn };
    // With HTTPS, port 80 only redirects: nothing reaches the app unencrypted.
    const http = new aws.lb.Listener(
      `${name}-http`,
      { loadBalancerArn: alb.arn, port: HTTP_PORT, protocol: "HTTP", defaultActions: [https ? REDIRECT_TO_HTTPS : forward] },
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
    if (!https) return { resources: [alb, targets, http, ...attachments], url: pulumi.interpolate`http://${alb.dnsName}/` };
    const certificate = createServiceCertificate(name, https, spec.tls?.own, o);
    const listener = new aws.lb.Listener(
      `${name}-https`,
      {
        loadBalancerArn: alb.arn,
        port: HTTPS_PORT,
        protocol: "HTTPS",
        sslPolicy: ALB_SSL_POLICY,
        certificateArn: certificate.arn,
        defaultActions: [forward],
      },
      o,
    );
    const alias = createDomainAlias(name, https, alb, o);
    return {
      resources: [alb, targets, http, listener, ...certificate.resources, ...(alias ? [alias] : []), ...attachments],
      url: https.domain ? pulumi.output(`https://${https.domain}/`) : pulumi.interpolate`https://${alb.dnsName}/`,
    };
  }

  /** The management host: a bastion in a public subnet with an Elastic IP, SSH from crm:adminCidr with crm:managementKeys. */
  management(name: string, spec: ManagementSpec, opts: RealizeOptions): RealizedManagement {
    const listen = this.fixedAddressOf(spec.host);
    const fixedRoles: readonly Role[] = this.aws.awsDatabase === "ec2" ? ["db", "nas"] : ["nas"];
    const managed = spec.managed.filter((h) => fixedRoles.includes(h.role)).map((h) => ({ name: h.name, address: this.fixedAddressOf(h) }));
    const cloudInit: CloudInitInput = managementCloudInit(spec, listen, managed, this.steps);
    const host = this.host(
      `${name}-${spec.host.name}`,
      spec.host,
      {
        cloudInit,
        secret: false,
        profile: createInstanceProfile(`${name}-host`, undefined, this.opts(opts)),
        // New keys are a new host (its address and Elastic IP stay).
        onUserDataChange: "replace",
        fixed: true,
      },
      opts,
    );
    const ip = new aws.ec2.Eip(
      `${name}-ip`,
      { domain: "vpc", instance: host.instance.id, tags: { Name: `${name}-ip` } },
      // An EIP in a VPC needs the internet gateway attached first.
      { ...this.opts(opts), dependsOn: [this.network.internetGateway] },
    );
    return { resources: [...host.resources, ip], address: ip.publicIp };
  }
}
