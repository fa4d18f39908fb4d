/**
 * The openstack network: one Neutron network per LAN that holds hosts, with the plan's own
 * CIDRs, so every host keeps its vnx address (fixed IPs on ports) and every role script is
 * rendered with the same addresses as on vnx. LAN1 (outside) is the external network named in
 * config, reached through one router.
 *
 * The plan gives .1 of LAN2 and LAN3 to the fw and the lb, so the router takes .254, and
 * DHCP hands out only .100–.250, away from the plan's fixed addresses.
 */
import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import { LANS, type Lan } from "../../topology/plan";

export type CloudLan = Exclude<Lan, "lan1">;
export const CLOUD_LANS: readonly CloudLan[] = ["lan2", "lan3", "lan4"];

/** Gateway and DHCP pool of a LAN's subnet (pure). */
export function subnetLayout(lan: CloudLan): { cidr: string; gatewayIp: string; pool: { start: string; end: string } } {
  const p = LANS[lan].prefix;
  return { cidr: LANS[lan].cidr, gatewayIp: `${p}.254`, pool: { start: `${p}.100`, end: `${p}.250` } };
}

export interface OpenStackNetwork {
  readonly external: pulumi.Output<string>;
  readonly networks: Readonly<Record<CloudLan, openstack.networking.Network>>;
  readonly subnets: Readonly<Record<CloudLan, openstack.networking.Subnet>>;
  readonly resources: pulumi.Resource[];
}

export function createNetwork(externalName: string, provider: openstack.Provider): OpenStackNetwork {
  const o = { provider };
  const external = openstack.networking.getNetworkOutput({ name: externalName, external: true }, o).apply((n) => n.id);
  const router = new openstack.networking.Router("crm-router", { externalNetworkId: external }, o);
  const networks = {} as Record<CloudLan, openstack.networking.Network>;
  const subnets = {} as Record<CloudLan, openstack.networking.Subnet>;
  const resources: pulumi.Resource[] = [router];
  for (const lan of CLOUD_LANS) {
    const layout = subnetLayout(lan);
    networks[lan] = new openstack.networking.Network(`crm-${lan}`, { adminStateUp: true, portSecurityEnabled: true }, o);
    subnets[lan] = new openstack.networking.Subnet(
      `crm-${lan}`,
      { networkId: networks[lan].id, cidr: layout.cidr, ipVersion: 4, gatewayIp: layout.gatewayIp, allocationPools: [layout.pool] },
      o,
    );
    // Every LAN reaches the internet outbound (mirrors, downloads at first boot) through the router's SNAT.
    resources.push(
      networks[lan],
      subnets[lan],
      new openstack.networking.RouterInterface(`crm-${lan}`, { routerId: router.id, subnetId: subnets[lan].id }, o),
    );
  }
  return { external, networks, subnets, resources };
}
