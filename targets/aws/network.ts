/**
 * The aws network: one VPC over the scenario's range, across three availability zones. Each
 * LAN of the plan that holds hosts becomes one tier of subnets, its /24 split into one /26 per
 * zone: LAN2 (DMZ) the public subnets (load balancer, NAT, management host), LAN3 (front) the
 * private app subnets, LAN4 (back) the private data subnets. LAN1 (outside) is the internet.
 * One security group per tier lives here too: hosts of every component are placed in them.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { LANS, SCENARIO_CIDR, type Lan } from "../../topology/plan";
import { WORLD, type Tier } from "../cloud/flows";

export const ZONES = 3;
export type SubnetTier = "public" | "app" | "data";
export const SUBNET_TIERS: readonly SubnetTier[] = ["public", "app", "data"];
const TIER_LAN: Readonly<Record<SubnetTier, Lan>> = { public: "lan2", app: "lan3", data: "lan4" };
const SUBNET_SIZE = 64;

/** The CIDR of a tier's subnet in zone `zone` (0..2): the LAN's /24 split into /26s. */
export function subnetCidr(tier: SubnetTier, zone: number): string {
  if (!Number.isInteger(zone) || zone < 0 || zone >= ZONES) throw new Error(`zone ${zone} is not 0..${ZONES - 1}`);
  return `${LANS[TIER_LAN[tier]].prefix}.${zone * SUBNET_SIZE}/26`;
}

/** The range a whole subnet tier spans (its LAN's /24): what pg_hba and Gluster admit from the app tier. */
export function tierCidr(tier: SubnetTier): string {
  return LANS[TIER_LAN[tier]].cidr;
}

/**
 * A fixed private address for a host that keeps its address across replacement (database,
 * bricks, management host): the plan's host octet inside the zone's /26. AWS reserves the
 * first four and the last address of a subnet.
 */
export function fixedAddress(tier: SubnetTier, zone: number, planAddress: string): string {
  const octet = Number(planAddress.split(".")[3]);
  if (!(octet >= 4 && octet < SUBNET_SIZE - 1)) throw new Error(`address ${planAddress}: host octet ${octet} does not fit a /26 on aws`);
  subnetCidr(tier, zone);
  return `${LANS[TIER_LAN[tier]].prefix}.${zone * SUBNET_SIZE + octet}`;
}

/** Picks the zone names, refusing a region with fewer than three (replica 3 needs three zones; the ALB two). */
export function threeZones(names: readonly string[], region: string): string[] {
  if (names.length < ZONES)
    throw new Error(`crm:awsRegion: ${region} has ${names.length} available zones; the architecture needs ${ZONES}`);
  return names.slice(0, ZONES);
}

export interface AwsNetworkArgs {
  readonly region: string;
  /** One NAT gateway per zone (survives a zone's loss) instead of one for all (cheaper). */
  readonly natPerZone: boolean;
  /** Tiers that get a security group. */
  readonly tiers: readonly Tier[];
}

/** The VPC, its subnets, routes and NAT, and one security group per tier (rules: the firewall's). */
export class AwsNetwork extends pulumi.ComponentResource {
  public readonly vpc: aws.ec2.Vpc;
  public readonly internetGateway: aws.ec2.InternetGateway;
  public readonly subnets: Readonly<Record<SubnetTier, readonly aws.ec2.Subnet[]>>;
  public readonly groups: Readonly<Partial<Record<Tier, aws.ec2.SecurityGroup>>>;

  constructor(name: string, args: AwsNetworkArgs, opts: pulumi.ComponentResourceOptions) {
    super("crm:aws:Network", name, {}, opts);
    const o = { parent: this };
    const zones = aws.getAvailabilityZonesOutput({ state: "available" }, o).names.apply((n) => threeZones(n, args.region));
    this.vpc = new aws.ec2.Vpc(
      `${name}-vpc`,
      { cidrBlock: SCENARIO_CIDR, enableDnsHostnames: true, enableDnsSupport: true, tags: { Name: name } },
      o,
    );
    const vpcId = this.vpc.id;
    this.internetGateway = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId, tags: { Name: name } }, o);
    const subnet = (tier: SubnetTier, zone: number) =>
      new aws.ec2.Subnet(
        `${name}-${tier}-${zone}`,
        {
          vpcId,
          cidrBlock: subnetCidr(tier, zone),
          availabilityZone: zones.apply((z) => z[zone]),
          // No address is public by default, not even in the public tier: only the ALB and an EIP are.
          mapPublicIpOnLaunch: false,
          tags: { Name: `${name}-${tier}-${zone}`, tier },
        },
        o,
      );
    const subnets = Object.fromEntries(SUBNET_TIERS.map((tier) => [tier, Array.from({ length: ZONES }, (_, z) => subnet(tier, z))]));
    this.subnets = subnets as Record<SubnetTier, aws.ec2.Subnet[]>;

    const publicRoutes = new aws.ec2.RouteTable(
      `${name}-public`,
      { vpcId, routes: [{ cidrBlock: WORLD, gatewayId: this.internetGateway.id }], tags: { Name: `${name}-public` } },
      o,
    );
    this.subnets.public.forEach(
      (s, zone) => new aws.ec2.RouteTableAssociation(`${name}-public-${zone}`, { subnetId: s.id, routeTableId: publicRoutes.id }, o),
    );
    // Private subnets reach the internet (mirrors, the cloud's APIs) only outbound, through NAT.
    const nats = Array.from({ length: args.natPerZone ? ZONES : 1 }, (_, zone) => {
      const eip = new aws.ec2.Eip(`${name}-nat-${zone}`, { domain: "vpc", tags: { Name: `${name}-nat-${zone}` } }, o);
      return new aws.ec2.NatGateway(
        `${name}-nat-${zone}`,
        { allocationId: eip.id, subnetId: this.subnets.public[zone].id, tags: { Name: `${name}-nat-${zone}` } },
        { ...o, dependsOn: [this.internetGateway] },
      );
    });
    const privateRoutes = nats.map(
      (nat, zone) =>
        new aws.ec2.RouteTable(
          `${name}-private-${zone}`,
          { vpcId, routes: [{ cidrBlock: WORLD, natGatewayId: nat.id }], tags: { Name: `${name}-private-${zone}` } },
          o,
        ),
    );
    for (const tier of ["app", "data"] as const) {
      this.subnets[tier].forEach(
        (s, zone) =>
          new aws.ec2.RouteTableAssociation(
            `${name}-${tier}-${zone}`,
            { subnetId: s.id, routeTableId: privateRoutes[args.natPerZone ? zone : 0].id },
            o,
          ),
      );
    }
    this.groups = Object.fromEntries(
      args.tiers.map((tier) => [
        tier,
        new aws.ec2.SecurityGroup(
          `${name}-${tier}`,
          { vpcId, description: `crm ${tier} tier`, tags: { Name: `${name}-${tier}`, tier } },
          o,
        ),
      ]),
    );
    this.registerOutputs({ vpcId });
  }

  /** The subnet ids of a tier, for the ALB and the RDS subnet group. */
  subnetIds(tier: SubnetTier): pulumi.Output<string>[] {
    return this.subnets[tier].map((s) => s.id);
  }
}
