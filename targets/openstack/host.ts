/**
 * One scenario host on openstack: a port per NIC of the plan (fixed at the plan's address, in
 * its tier's security group), an optional Cinder data volume, and the server configured by
 * cloud-init with the role script.
 */
import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import type { HostPlan } from "../../topology/plan";
import type { CloudInitInput } from "../aws/roles";
import { openstackVolumeDevice, renderCloudInit } from "../cloudinit";
import type { CloudLan, OpenStackNetwork } from "./network";

export interface HostContext {
  readonly provider: openstack.Provider;
  readonly network: OpenStackNetwork;
  readonly imageName: string;
  readonly flavorName: string;
  readonly keyPair: string;
  readonly volumeSizeGiB: number;
}

/** The plan's NICs as ports: the fixed address of the plan on its LAN's subnet. */
export function createPorts(ctx: HostContext, host: HostPlan, securityGroupId: pulumi.Input<string>): openstack.networking.Port[] {
  return host.nics.map((nic) => {
    if (nic.lan === "lan1") throw new Error(`host ${host.name}: LAN1 is the external network on openstack`);
    const lan: CloudLan = nic.lan;
    return new openstack.networking.Port(
      `${host.name}-${lan}`,
      {
        networkId: ctx.network.networks[lan].id,
        fixedIps: [{ subnetId: ctx.network.subnets[lan].id, ipAddress: nic.address }],
        securityGroupIds: [securityGroupId],
        adminStateUp: true,
      },
      { provider: ctx.provider },
    );
  });
}

export interface OpenStackHostArgs {
  readonly host: HostPlan;
  readonly ports: readonly openstack.networking.Port[];
  readonly cloudInit: pulumi.Input<CloudInitInput>;
  readonly secret: boolean;
  readonly volumeAt?: string;
  /**
   * Nova replaces a server whose user data changes. Stateful hosts (database, bricks) ignore such
   * changes instead and keep running (see docs/clouds.md); stateless ones are replaced.
   */
  readonly stateless: boolean;
  readonly parent: pulumi.Resource;
  readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
}

export function createOpenStackHost(ctx: HostContext, args: OpenStackHostArgs): pulumi.Resource[] {
  const o = { provider: ctx.provider, parent: args.parent };
  const name = args.host.name;
  const volume = args.volumeAt
    ? new openstack.blockstorage.Volume(`${name}-data`, { size: ctx.volumeSizeGiB, description: `crm ${name} data` }, o)
    : undefined;
  const mountPoint = args.volumeAt;
  const rendered = pulumi.all([args.cloudInit, volume?.id ?? pulumi.output(undefined)]).apply(([cloudInit, volumeId]) =>
    renderCloudInit({
      ...cloudInit,
      volume: volumeId && mountPoint ? { device: openstackVolumeDevice(volumeId), mountPoint } : undefined,
    }),
  );
  const server = new openstack.compute.Instance(
    name,
    {
      imageName: ctx.imageName,
      flavorName: ctx.flavorName,
      keyPair: ctx.keyPair,
      networks: args.ports.map((p) => ({ port: p.id })),
      userData: args.secret ? pulumi.secret(rendered) : rendered,
      metadata: { role: args.host.role },
    },
    { ...o, dependsOn: args.dependsOn, ignoreChanges: args.stateless ? [] : ["userData"] },
  );
  const resources: pulumi.Resource[] = [server];
  if (volume) resources.push(new openstack.compute.VolumeAttach(`${name}-data`, { instanceId: server.id, volumeId: volume.id }, o));
  return resources;
}
