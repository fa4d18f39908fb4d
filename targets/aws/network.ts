/**
 * The aws network: one VPC over the scenario's range, across three availability zones. Each
 * LAN of the plan that holds hosts becomes one tier of subnets, its /24 split into one /26 per
 * zone: LAN2 (DMZ) the public subnets (load balancer, NAT, management host), LAN3 (front) the
 * private app subnets, LAN4 (back) the private data subnets. LAN1 (outside) is the internet.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { LANS, SCENARIO_CIDR, type Lan } from "../../topology/plan";
import { WORLD } from "./flows";

export const ZONES = 3;
export type SubnetTier = "public" | "app" | "data";
export const SUBNET_TIERS: readonly SubnetTier[] = ["public", "app", "data"];
const TIER_LAN: Readonly<Record<SubnetTier, Lan>> = { public: "lan2", app: "lan3", data: "lan4" };

/** The CIDR of a tier's subnet in zone `zone` (0..2): the LAN's /24 split into /26s. */
export function subnetCidr(tier: SubnetTier, zone: number): string {
  if (!Number.isInteger(zone) || zone < 0 || zone >= ZONES) throw new Error(`zone ${zone} is not 0..${ZONES - 1}`);
  return `${LANS[TIER_LAN[tier]].prefix}.${zone * 64}/26`;
}

export interface AwsNetwork {
  readonly vpc: aws.ec2.Vpc;
  readonly subnets: Readonly<Record<SubnetTier, readonly aws.ec2.Subnet[]>>;
}

export interface NetworkOptions {
  readonly provider: aws.Provider;
  /** One NAT gateway per zone (survives a zone's loss) instead of one for all (cheaper). */
  readonly natPerZone: boolean;
}

/** Picks the zone names, refusing a region with fewer than three (replica 3 needs three zones). */
export function threeZones(names: readonly string[], region: string): string[] {
  if (names.length < ZONES)
    throw new Error(`crm:awsRegion: ${region} has ${names.length} available zones; the architecture needs ${ZONES}`);
  return names.slice(0, ZONES);
}

export function createNetwork(region: string, opts: NetworkOptions): AwsNetwork {
  const o = { provider: opts.provider };
  const zones = aws.getAvailabilityZonesOutput({ state: "available" }, o).names.apply((n) => threeZones(n, region));
  const vpc = new aws.ec2.Vpc(
    "crm-vpc",
    { cidrBlock: SCENARIO_CIDR, enableDnsHostnames: true, enableDnsSupport: true, tags: { Name: "crm" } },
    o,
  );
  const igw = new aws.ec2.InternetGateway("crm-igw", { vpcId: vpc.id, tags: { Name: "crm" } }, o);

  const subnets = Object.fromEntries(
    SUBNET_TIERS.map((tier) => [
      tier,
      Array.from(
        { length: ZONES },
        (_, zone) =>
          new aws.ec2.Subnet(
            `crm-${tier}-${zone}`,
            {
              vpcId: vpc.id,
              cidrBlock: subnetCidr(tier, zone),
              availabilityZone: zones.apply((z) => z[zone]),
              // No address is public by default, not even in the public tier: only the ALB and an EIP are.
              mapPublicIpOnLaunch: false,
              tags: { Name: `crm-${tier}-${zone}`, tier },
            },
            o,
          ),
      ),
    ]),
  ) as Record<SubnetTier, aws.ec2.Subnet[]>;

  const publicRoutes = new aws.ec2.RouteTable(
    "crm-public",
    { vpcId: vpc.id, routes: [{ cidrBlock: WORLD, gatewayId: igw.id }], tags: { Name: "crm-public" } },
    o,
  );
  subnets.public.forEach(
    (s, zone) => new aws.ec2.RouteTableAssociation(`crm-public-${zone}`, { subnetId: s.id, routeTableId: publicRoutes.id }, o),
  );

  // Private subnets reach the internet (mirrors, the app bundle) only outbound, through NAT.
  const nats = Array.from({ length: opts.natPerZone ? ZONES : 1 }, (_, zone) => {
    const eip = new aws.ec2.Eip(`crm-nat-${zone}`, { domain: "vpc", tags: { Name: `crm-nat-${zone}` } }, o);
    return new aws.ec2.NatGateway(
      `crm-nat-${zone}`,
      { allocationId: eip.id, subnetId: subnets.public[zone].id, tags: { Name: `crm-nat-${zone}` } },
      { ...o, dependsOn: [igw] },
    );
  });
  const privateRoutes = nats.map(
    (nat, zone) =>
      new aws.ec2.RouteTable(
        `crm-private-${zone}`,
        { vpcId: vpc.id, routes: [{ cidrBlock: WORLD, natGatewayId: nat.id }], tags: { Name: `crm-private-${zone}` } },
        o,
      ),
  );
  for (const tier of ["app", "data"] as const) {
    subnets[tier].forEach(
      (s, zone) =>
        new aws.ec2.RouteTableAssociation(
          `crm-${tier}-${zone}`,
          { subnetId: s.id, routeTableId: privateRoutes[opts.natPerZone ? zone : 0].id },
          o,
        ),
    );
  }
  return { vpc, subnets };
}

/** Output helper: the subnet ids of a tier, for the ALB and the RDS subnet group. */
export function subnetIds(network: AwsNetwork, tier: SubnetTier): pulumi.Output<string>[] {
  return network.subnets[tier].map((s) => s.id);
}
