/**
 * The cloud-init inputs of each role, from the platform specs and the hosts' cloud addresses:
 * the roles/ renderers called exactly as the vnx target calls them, only with the addresses
 * the cloud gives. Cloud-neutral, shared with the openstack target.
 */
import * as pulumi from "@pulumi/pulumi";
import { appRoleScript } from "../../roles/app";
import { balancerRoleScript } from "../../roles/balancer";
import { dbRoleScript } from "../../roles/db";
import { glusterFormationScript, nasRoleScript } from "../../roles/nas";
import type { HostPlan } from "../../topology/plan";
import type { CloudHostArgs } from "../cloudinit";
import type { AppTierSpec, DatabaseSpec, LoadBalancerSpec, StorageSpec } from "../platform";

/** What a host's user data is rendered from, before its data volume (if any) is known. */
export type CloudInitInput = Omit<CloudHostArgs, "volume">;

export function dbCloudInit(
  spec: DatabaseSpec,
  listen: pulumi.Input<string>,
  clients: pulumi.Input<string>[],
): pulumi.Output<CloudInitInput> {
  return pulumi.all([spec.password, listen, pulumi.all(clients)]).apply(([password, address, clientAddresses]) => ({
    hostname: spec.host.name,
    role: "db" as const,
    roleScript: dbRoleScript({ listen: address, clients: clientAddresses, database: spec.database, user: spec.user, password }),
  }));
}

/** One per brick host; the first also forms the volume once its peers run (a follow-up cloud-init retries). */
export function nasCloudInits(
  spec: StorageSpec,
  servers: pulumi.Input<string>[],
  clients: pulumi.Input<string>[],
): pulumi.Output<CloudInitInput>[] {
  return spec.hosts.map((h, i) =>
    pulumi.all([pulumi.all(servers), pulumi.all(clients)]).apply(([s, c]) => ({
      hostname: h.name,
      role: "nas" as const,
      roleScript: nasRoleScript({ brick: spec.brick }),
      followUps:
        i === 0
          ? [{ name: "gluster-volume", script: glusterFormationScript({ volume: spec.volume, servers: s, brick: spec.brick, clients: c }) }]
          : [],
    })),
  );
}

export function appCloudInit(
  server: HostPlan,
  spec: AppTierSpec,
  listen: pulumi.Input<string>,
  installApp: string,
): pulumi.Output<CloudInitInput> {
  return pulumi
    .all([listen, spec.databaseUrl, spec.sessionSecret, spec.adminPassword, spec.storageAddresses])
    .apply(([address, databaseUrl, sessionSecret, adminPassword, glusterServers]) => ({
      hostname: server.name,
      role: "app" as const,
      roleScript: appRoleScript({
        listen: address,
        port: spec.port,
        databaseUrl,
        sessionSecret,
        adminPassword,
        volume: spec.volume,
        glusterServers,
        installApp,
      }),
    }));
}

/** The HAProxy host (openstack without Octavia): the vnx balancer's role script, same arguments. */
export function balancerCloudInit(spec: LoadBalancerSpec, bind: string, statsBind: string): pulumi.Output<CloudInitInput> {
  return pulumi.all(spec.members.map((m) => pulumi.output(m.address))).apply((addresses) => ({
    hostname: spec.host.name,
    role: "balancer" as const,
    roleScript: balancerRoleScript({
      bind,
      backends: spec.members.map((m, i) => ({ name: m.name, address: addresses[i], port: spec.port })),
      algorithm: spec.algorithm,
      healthPath: spec.healthPath,
      statsBind,
    }),
  }));
}
