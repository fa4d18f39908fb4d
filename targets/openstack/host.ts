/**
 * One scenario host on openstack: a server configured by cloud-init with the role script, and
 * an optional Cinder data volume.
 *
 * Replacement is decided here, as on aws. A host with fixed addresses (database, bricks, the
 * management host, the HAProxy server) uses ports made beforehand at the plan's addresses; a
 * successor cannot take them while its predecessor holds them (Nova answers 409), so such a
 * server is replaced delete-before-create, and its data lives on the Cinder volume, which
 * survives. An app server lets Nova make its ports, with any address: its successor is made first.
 */
import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import type { HostPlan } from "../../topology/plan";
import { openstackVolumeDevice, renderCloudInit } from "../cloud/cloudinit";
import type { CloudInitInput } from "../cloud/userData";
import type { CloudLan, OpenStackNetwork } from "./network";

export interface ServerImage {
  readonly imageName: string;
  readonly flavorName: string;
  readonly keyPair?: string;
  readonly volumeSizeGiB: number;
}

type Options = { parent: pulumi.Resource; provider: openstack.Provider };

/** The plan's NICs as ports at the plan's addresses, in the tier's group. */
export function createPorts(
  name: string,
  network: OpenStackNetwork,
  host: HostPlan,
  securityGroupId: pulumi.Input<string>,
  opts: Options,
): openstack.networking.Port[] {
  return host.nics.map((nic) => {
    if (nic.lan === "lan1") throw new Error(`host ${host.name}: LAN1 is the external network on openstack`);
    const lan: CloudLan = nic.lan;
    return new openstack.networking.Port(
      `${name}-${lan}`,
      {
        networkId: network.networks[lan].id,
        fixedIps: [{ subnetId: network.subnets[lan].id, ipAddress: nic.address }],
        securityGroupIds: [securityGroupId],
        adminStateUp: true,
      },
      opts,
    );
  });
}

/** Where a server's network interfaces come from. */
export type ServerNics =
  /** Ports made beforehand (fixed addresses). */
  | { readonly ports: readonly openstack.networking.Port[] }
  /** Nova makes one port per network, with any address, in the group (by name, Nova's convention). */
  | { readonly networks: readonly CloudLan[]; readonly securityGroup: openstack.networking.SecGroup };

export interface OpenStackHostArgs {
  readonly host: HostPlan;
  readonly nics: ServerNics;
  readonly cloudInit: pulumi.Input<CloudInitInput>;
  readonly secret: boolean;
  /** With a data volume: the paths kept on it (DataVolume.keeps). */
  readonly keeps?: readonly string[];
  /** "replace": a new role script is a new server; "ignore": a stateful server keeps running as it is. */
  readonly onUserDataChange: "replace" | "ignore";
  /** A server group whose policy places the server (the bricks: on different hypervisors). */
  readonly serverGroup?: openstack.compute.ServerGroup;
}

/** The resource options that decide how a server is replaced (pure, asserted by the tests). */
export function serverReplacement(
  args: Pick<OpenStackHostArgs, "nics" | "onUserDataChange">,
): Pick<pulumi.CustomResourceOptions, "deleteBeforeReplace" | "ignoreChanges"> {
  return { deleteBeforeReplace: "ports" in args.nics, ignoreChanges: args.onUserDataChange === "ignore" ? ["userData"] : [] };
}

export function createOpenStackHost(
  name: string,
  network: OpenStackNetwork,
  image: ServerImage,
  args: OpenStackHostArgs,
  opts: Options & { dependsOn?: pulumi.Input<pulumi.Resource>[] },
): { server: openstack.compute.Instance; resources: pulumi.Resource[] } {
  const o = { parent: opts.parent, provider: opts.provider };
  const keeps = args.keeps;
  const volume = keeps
    ? new openstack.blockstorage.Volume(`${name}-data`, { size: image.volumeSizeGiB, description: `${name} data` }, o)
    : undefined;
  const rendered = pulumi.all([args.cloudInit, volume?.id ?? pulumi.output(undefined)]).apply(([cloudInit, volumeId]) =>
    renderCloudInit({
      ...cloudInit,
      volume: volumeId && keeps ? { device: openstackVolumeDevice(volumeId), keeps } : undefined,
    }),
  );
  const nics =
    "ports" in args.nics
      ? { networks: args.nics.ports.map((p) => ({ port: p.id })) }
      : {
          networks: args.nics.networks.map((lan) => ({ uuid: network.networks[lan].id })),
          securityGroups: [args.nics.securityGroup.name],
        };
  const server = new openstack.compute.Instance(
    name,
    {
      imageName: image.imageName,
      flavorName: image.flavorName,
      keyPair: image.keyPair,
      ...nics,
      userData: args.secret ? pulumi.secret(rendered) : rendered,
      metadata: { role: args.host.role },
      schedulerHints: args.serverGroup ? [{ group: args.serverGroup.id }] : undefined,
    },
    { ...o, ...serverReplacement(args), dependsOn: opts.dependsOn },
  );
  const resources: pulumi.Resource[] = [server];
  if (volume) resources.push(new openstack.compute.VolumeAttach(`${name}-data`, { instanceId: server.id, volumeId: volume.id }, o));
  return { server, resources };
}
