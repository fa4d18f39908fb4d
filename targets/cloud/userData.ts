/**
 * What each role's cloud-init user data is rendered from: the roles/ renderers called as the vnx
 * target calls them, with the addresses a cloud gives. Cloud-neutral, used by aws and openstack.
 *
 * Scaling rule: the database and the bricks admit the app servers by the network they connect
 * from (pg_hba CIDR, Gluster auth.allow pattern), never one address each, so that adding an app
 * server changes no input of a database or storage host (cloud-init runs once per instance).
 */
import * as pulumi from "@pulumi/pulumi";
import { appRoleScript } from "../../roles/app";
import { balancerRoleScript } from "../../roles/balancer";
import { dbRoleScript } from "../../roles/db";
import { managementRoleScript, type ManagedHost } from "../../roles/management";
import { glusterFormationScript, nasRoleScript } from "../../roles/nas";
import type { HostPlan } from "../../topology/plan";
import type { CloudHostArgs } from "./cloudinit";
import type { AppTierSpec, DatabaseSpec, IssuedCertificate, LoadBalancerSpec, ManagementSpec, StorageSpec } from "../platform";

/** What a host's user data is rendered from, before its data volume (if any) is known. */
export type CloudInitInput = Omit<CloudHostArgs, "volume">;

/**
 * App servers own their network interface (so that a replacement is made before its predecessor
 * goes), hence their address is unknown when their user data is written: the app listens on all
 * addresses, and its security group admits only the load balancer.
 */
export const APP_LISTEN_ANY = "0.0.0.0";

/** What the database host keeps on its data volume: the cluster's data and Debian's configuration of it. */
export const DB_KEEPS: readonly string[] = ["/var/lib/postgresql", "/etc/postgresql"];

/** What a brick host keeps on its data volume: the brick and glusterd's identity and peers. */
export function brickKeeps(brick: string): string[] {
  return [brick, "/var/lib/glusterd"];
}

/** Gluster's auth.allow takes address patterns, not CIDRs: a /24 or /16 as `10.1.3.*` or `10.1.*.*`. */
export function glusterPattern(cidr: string): string {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(16|24)$/.exec(cidr);
  if (!m) throw new Error(`gluster: ${cidr} is not a /24 or /16, which auth.allow cannot express`);
  return m[5] === "24" ? `${m[1]}.${m[2]}.${m[3]}.*` : `${m[1]}.${m[2]}.*.*`;
}

/** The database, admitting the app servers' network `clients` (a CIDR). */
export function dbCloudInit(spec: DatabaseSpec, listen: string, clients: string, steps: readonly string[]): pulumi.Output<CloudInitInput> {
  return spec.password.apply((password) => ({
    hostname: spec.host.name,
    role: "db" as const,
    steps,
    roleScript: dbRoleScript({ listen, clients: [clients], database: spec.database, user: spec.user, password }),
  }));
}

/** One per brick host; the first also forms the volume once its peers run (a follow-up cloud-init retries). */
export function nasCloudInits(spec: StorageSpec, servers: readonly string[], clients: string, steps: readonly string[]): CloudInitInput[] {
  return spec.hosts.map((h, i) => ({
    hostname: h.name,
    role: "nas" as const,
    steps,
    roleScript: nasRoleScript({ brick: spec.brick }),
    followUps:
      i === 0
        ? [
            {
              name: "gluster-volume",
              script: glusterFormationScript({ volume: spec.volume, servers, brick: spec.brick, clients: [glusterPattern(clients)] }),
            },
          ]
        : [],
  }));
}

export function appCloudInit(
  server: HostPlan,
  spec: AppTierSpec,
  installApp: pulumi.Input<string>,
  /** May hold a secret (a database user's password), hence an Input. */
  steps: pulumi.Input<readonly string[]>,
): pulumi.Output<CloudInitInput> {
  return pulumi
    .all([installApp, spec.databaseUrl, spec.sessionSecret, spec.adminPassword, spec.storageAddresses, steps])
    .apply(([install, databaseUrl, sessionSecret, adminPassword, glusterServers, hostSteps]) => ({
      hostname: server.name,
      role: "app" as const,
      steps: hostSteps,
      roleScript: appRoleScript({
        listen: APP_LISTEN_ANY,
        port: spec.port,
        databaseUrl,
        sessionSecret,
        adminPassword,
        volume: spec.volume,
        glusterServers,
        installApp: install,
        behindHttps: spec.behindHttps,
      }),
    }));
}

/**
 * The HAProxy host (openstack without Octavia): the vnx balancer's role script, same arguments;
 * with a certificate, HTTPS on `tls.bind` and `bind` only redirecting (the user data then holds
 * the certificate's key: the caller makes it secret).
 */
export function balancerCloudInit(
  spec: LoadBalancerSpec,
  bind: string,
  statsBind: string,
  steps: readonly string[],
  tls?: { readonly bind: string; readonly certificate: IssuedCertificate },
): pulumi.Output<CloudInitInput> {
  const pem = tls && pulumi.all([tls.certificate.certificatePem, tls.certificate.privateKeyPem]);
  return pulumi.all([pulumi.all(spec.members.map((m) => pulumi.output(m.address))), pem]).apply(([addresses, certificate]) => ({
    hostname: spec.host.name,
    role: "balancer" as const,
    steps,
    roleScript: balancerRoleScript(
      {
        bind,
        backends: spec.members.map((m, i) => ({ name: m.name, address: addresses[i], port: spec.port })),
        algorithm: spec.algorithm,
        healthPath: spec.healthPath,
        statsBind,
        tls: tls && { bind: tls.bind },
      },
      undefined,
      certificate && { certificatePem: certificate[0], privateKeyPem: certificate[1] },
    ),
  }));
}

/**
 * The management host: sshd with crm:managementKeys only. It names the hosts whose addresses are
 * fixed (database, bricks); app servers come and go, and their addresses are the stack's
 * `appServers` output, so that scaling does not touch this host either.
 */
export function managementCloudInit(
  spec: ManagementSpec,
  listen: string,
  managedHosts: readonly ManagedHost[],
  steps: readonly string[],
): CloudInitInput {
  return {
    hostname: spec.host.name,
    role: "management",
    steps,
    roleScript: managementRoleScript({ authorizedKeys: spec.authorizedKeys, listen, managedHosts }),
  };
}
