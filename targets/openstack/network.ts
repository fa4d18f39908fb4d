/**
 * The openstack network: one Neutron network per LAN that holds hosts, with the plan's own
 * CIDRs, so that every host with a fixed address keeps its vnx address and its role script is
 * rendered with the same addresses as on vnx. LAN1 (outside) is the external network named in
 * config, reached through one router. One security group per tier lives here too.
 *
 * The plan gives .1 of LAN2 and LAN3 to the fw and the lb, so the router takes .254, and
 * DHCP hands out only .100–.250, away from the plan's fixed addresses.
 */
import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import { LANS, type Lan } from "../../topology/plan";
import type { Tier } from "../cloud/flows";

export type CloudLan = Exclude<Lan, "lan1">;
export const CLOUD_LANS: readonly CloudLan[] = ["lan2", "lan3", "lan4"];

/** Gateway and DHCP pool of a LAN's subnet (pure). */
export function subnetLayout(lan: CloudLan): { cidr: string; gatewayIp: string; pool: { start: string; end: string } } {
  const p = LANS[lan].prefix;
  return { cidr: LANS[lan].cidr, gatewayIp: `${p}.254`, pool: { start: `${p}.100`, end: `${p}.250` } };
}

export interface OpenStackNetworkArgs {
  readonly externalNetwork: string;
  /** Tiers that get a security group. */
  readonly tiers: readonly Tier[];
}

export class OpenStackNetwork extends pulumi.ComponentResource {
  public readonly networks: Readonly<Record<CloudLan, openstack.networking.Network>>;
  public readonly subnets: Readonly<Record<CloudLan, openstack.networking.Subnet>>;
  /** A floating IP needs its port's subnet on the router: what floating IPs wait for. */
  public readonly routerInterfaces: readonly openstack.networking.RouterInterface[];
  public readonly groups: Readonly<Partial<Record<Tier, openstack.networking.SecGroup>>>;

  constructor(name: string, args: OpenStackNetworkArgs, opts: pulumi.ComponentResourceOptions) {
    super("crm:openstack:Network", name, {}, opts);
    const o = { parent: this };
    const external = openstack.networking.getNetworkOutput({ name: args.externalNetwork, external: true }, o).apply((n) => n.id);
    const router = new openstack.networking.Router(`${name}-router`, { externalNetworkId: external }, o);
    const networks = {} as Record<CloudLan, openstack.networking.Network>;
    const subnets = {} as Record<CloudLan, openstack.networking.Subnet>;
    const interfaces: openstack.networking.RouterInterface[] = [];
    for (const lan of CLOUD_LANS) {
      const layout = subnetLayout(lan);
      networks[lan] = new openstack.networking.Network(`${name}-${lan}`, { adminStateUp: true, portSecurityEnabled: true }, o);
      subnets[lan] = new openstack.networking.Subnet(
        `${name}-${lan}`,
        { networkId: networks[lan].id, cidr: layout.cidr, ipVersion: 4, gatewayIp: layout.gatewayIp, allocationPools: [layout.pool] },
        o,
      );
      // Every LAN reaches the internet outbound (mirrors, the object store) through the router's SNAT.
      interfaces.push(new openstack.networking.RouterInterface(`${name}-${lan}`, { routerId: router.id, subnetId: subnets[lan].id }, o));
    }
    this.networks = networks;
    this.subnets = subnets;
    this.routerInterfaces = interfaces;
    // Without Neutron's default allow-all egress, so that egress is as explicit as ingress.
    this.groups = Object.fromEntries(
      args.tiers.map((tier) => [
        tier,
        new openstack.networking.SecGroup(`${name}-${tier}`, { description: `crm ${tier} tier`, deleteDefaultRules: true }, o),
      ]),
    );
    this.registerOutputs({ routerId: router.id });
  }
}
