/**
 * The vnx target: the seed's VNX scenario on this machine. Every host is a privileged LXC
 * container cloned from one cached Debian image, on four Linux bridges; each is configured by
 * its role script, piped into `lxc-attach`.
 */
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as path from "node:path";
import { appRoleScript, CONTRACT_PATH, customAppEnv, type AppEnvValues, type CustomApp } from "../../roles/app";
import { APP_BACKEND, balancerRoleScript, STATS_PORT } from "../../roles/balancer";
import { dbRoleScript, type DbArgs } from "../../roles/db";
import { BACKUP_PACKAGE, backedUpDbRoleScript, NRPE_PACKAGE, NRPE_PLUGIN_PACKAGE, repoVolumeArgs } from "../../roles/backup";
import {
  DB_PROXY_ADDRESS,
  deriveDbSecrets,
  ETCD_ENV,
  etcdWitnessRoleScript,
  PATRONI_PACKAGES,
  patroniNodeRoleScript,
  WITNESS_PACKAGES,
  type EtcdMember,
} from "../../roles/patroni";
import { CONNTRACKD_PACKAGE, FAILOVER_SCRIPT } from "../../roles/conntrackd";
import { firewallPairRules, firewallRoleScript } from "../../roles/firewall";
import { managementRoleScript } from "../../roles/management";
import { monitorRoleScript } from "../../roles/monitor";
import { glusterFormationScript, nasRoleScript } from "../../roles/nas";
import { clientRoleScript } from "../../roles/client";
import { managedFilesCheck, shellQuote } from "../../roles/script";
import type { VrrpAddress, VrrpPairArgs } from "../../roles/vrrp";
import {
  addressOn,
  BALANCER_FRONT,
  CONNTRACK_SYNC_PORT,
  FIREWALL_INSIDE,
  FIREWALL_OUTSIDE,
  HTTP_PORT,
  HTTPS_PORT,
  LANS,
  SERVICE_ADDRESS,
  VRRP_IDS,
  type HostPlan,
  type Lan,
} from "../../topology/plan";
import type { AppSettings } from "../../topology/settings";
import type {
  AppTierSpec,
  DatabaseBackupSpec,
  DatabaseSpec,
  FirewallSpec,
  LoadBalancerSpec,
  ManagementSpec,
  MonitoringSpec,
  Platform,
  RealizeOptions,
  Realized,
  RealizedAppTier,
  RealizedDatabase,
  RealizedLoadBalancer,
  RealizedStorage,
  StorageSpec,
} from "../platform";
import { ABSENT, LocalCommand } from "./localCommand";
import { resolveApp, USER_APP_BUNDLE } from "./userApp";
import { appBundleDir, imageName, NODE_BINARY, PROJECT_ROOT } from "./recipe";

const SCRIPTS = path.join(__dirname, "scripts");
/**
 * Commands name the substrate scripts relative to the project (the engine runs them from there),
 * so that moving the project does not change every command and replace every host.
 */
const substrate = (name: string) => shellQuote(path.relative(PROJECT_ROOT, path.join(SCRIPTS, name)));

/** The LXC name of a scenario host: prefixed, so nothing but our own containers is ever touched. */
export function containerName(host: HostPlan): string {
  return `crm-${host.name}`;
}

/** `host.sh create` arguments for a host of the plan. */
export function hostArgs(host: HostPlan, image: string, fuse: boolean): string[] {
  return [
    containerName(host),
    image,
    "--hostname",
    host.name,
    ...(fuse ? ["--fuse"] : []),
    ...host.nics.flatMap((n) => ["--nic", `${n.lan}=${n.address}/${LANS[n.lan].cidr.split("/")[1]}`]),
    ...host.routes.flatMap((r) => ["--route", `${r.to}=${r.via}`]),
  ];
}

/** What the preflight looks at on this machine. */
export interface HostEnvironment {
  readonly uid: number;
  readonly hasCgroups: boolean;
  readonly hasOverlay: boolean;
  /** LXC's tools and its Debian template (package lxc-templates) are installed. */
  readonly hasLxc: boolean;
}

/** Refuses to start where the vnx target cannot work, before anything is created. */
export function preflightProblem(env: HostEnvironment): string | undefined {
  if (env.uid !== 0) return "the vnx target creates bridges, routes and containers: run it as root";
  if (!env.hasCgroups) return "the vnx target needs cgroups (/sys/fs/cgroup) to start containers, and this machine has none mounted";
  if (!env.hasOverlay) return "the vnx target clones hosts with overlayfs, which this kernel does not offer (/proc/filesystems)";
  if (!env.hasLxc)
    return "LXC or its Debian template is missing: run scripts/vnx up, which installs what the stack needs (or apt-get install lxc lxc-templates debootstrap)";
  return undefined;
}

function preflight(): void {
  const problem = preflightProblem({
    uid: process.getuid?.() ?? -1,
    hasCgroups: fs.existsSync("/sys/fs/cgroup/cgroup.controllers") || fs.existsSync("/sys/fs/cgroup/devices"),
    hasOverlay: fs.readFileSync("/proc/filesystems", "utf8").includes("overlay"),
    hasLxc: fs.existsSync("/usr/bin/lxc-copy") && fs.existsSync("/usr/share/lxc/templates/lxc-debian"),
  });
  if (problem) throw new pulumi.RunError(`crm:target vnx: ${problem}`);
}

/** The name of a host's resources under its component: `fw` for the fw host of Firewall "fw", `crm-s1` for s1 of CrmTier "crm". */
export function childPrefix(component: string, host: HostPlan): string {
  return host.name === component ? component : `${component}-${host.name}`;
}

/**
 * Aliases to a resource's name before the resource tree followed the component convention
 * (`s1-container` under CrmTier "crm", the network and the clients at the stack's root), so that
 * stacks deployed then update in place.
 */
function formerly(name: string, current: string, atRoot = false): pulumi.Alias[] {
  if (name === current && !atRoot) return [];
  return [{ name, ...(atRoot ? { parent: pulumi.rootStackResource } : {}) }];
}

interface HostOptions {
  readonly fuse?: boolean;
  /** Shell run on the machine after the container exists and before the role (e.g. copying the app in). */
  readonly provision?: { readonly command: string; readonly triggers: unknown[] };
  readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
  /** What the role alone waits for (the provisioning step goes ahead meanwhile). */
  readonly roleDependsOn?: pulumi.Input<pulumi.Resource>[];
  /** The resources were at the stack's root before (clients). */
  readonly formerlyAtRoot?: boolean;
}

/** What the vnx target owns outside any component: the network, the base image, the clients. */
class VnxSubstrate extends pulumi.ComponentResource {
  constructor(public readonly name: string) {
    super("crm:vnx:Substrate", name, {}, {});
  }
}

export class VnxPlatform implements Platform {
  public readonly target = "vnx";
  private readonly substrate: VnxSubstrate;
  private readonly network: LocalCommand;
  private readonly image: LocalCommand;
  private readonly imageName: string;
  /** Recorded on every container and bridge: a thing of the same name that is not ours is never touched. */
  private readonly owner = `${pulumi.getProject()}/${pulumi.getStack()}`;

  /** The platform on this machine, after checking that the machine can run it. */
  static onThisMachine(): VnxPlatform {
    preflight();
    return new VnxPlatform();
  }

  constructor() {
    this.substrate = new VnxSubstrate("vnx");
    // The safety route and the bridges come first and go last: see network.sh. A changed script is
    // run again in place (it is idempotent): replacing would pull the bridges from under running hosts.
    this.network = new LocalCommand(
      "vnx-network",
      {
        create: `${substrate("network.sh")} up`,
        delete: `${substrate("network.sh")} down`,
        probe: `${substrate("network.sh")} probe`,
        owner: this.owner,
        triggers: [fs.readFileSync(path.join(SCRIPTS, "network.sh"), "utf8")],
        rerunOnChange: true,
      },
      { parent: this.substrate, deleteBeforeReplace: true, aliases: formerly("vnx-network", "vnx-network", true) },
    );
    this.imageName = imageName();
    // The base image is a cache shared by every deployment: it outlives `destroy` (see README).
    this.image = new LocalCommand(
      "vnx-image",
      {
        create: `${substrate("image.sh")} ${this.imageName} ${NODE_BINARY}`,
        probe: `${substrate("image.sh")} --list | awk -v n=${this.imageName} '$1 == n { s = $2 } END { print s ? s : "${ABSENT}" }'`,
      },
      { parent: this.substrate, deleteBeforeReplace: true, aliases: formerly("vnx-image", "vnx-image", true) },
    );
  }

  /** One scenario host: its container, then optionally a provisioning step, then its role script. */
  private host(
    component: string,
    host: HostPlan,
    role: pulumi.Input<string>,
    opts: Partial<RealizeOptions> & HostOptions,
  ): pulumi.Resource {
    const name = containerName(host);
    const prefix = childPrefix(component, host);
    const parent = opts.parent ?? this.substrate;
    const atRoot = opts.formerlyAtRoot ?? false;
    const container = new LocalCommand(
      `${prefix}-container`,
      {
        create: [substrate("host.sh"), "create", ...hostArgs(host, this.imageName, opts.fuse ?? false).map(shellQuote)].join(" "),
        delete: `${substrate("host.sh")} destroy ${name}`,
        probe: `${substrate("host.sh")} probe ${name}`,
        owner: this.owner,
      },
      // A container has a fixed name: its replacement must come after the old one is gone, on every path.
      {
        parent,
        dependsOn: [this.network, this.image],
        deleteBeforeReplace: true,
        aliases: formerly(`${host.name}-container`, `${prefix}-container`, atRoot),
      },
    );
    const before: pulumi.Resource[] = [container];
    if (opts.provision) {
      before.push(
        new LocalCommand(
          `${prefix}-provision`,
          { create: opts.provision.command, triggers: [container.id, ...opts.provision.triggers], rerunOnChange: true },
          {
            parent,
            dependsOn: [container, ...(opts.dependsOn ?? [])],
            aliases: formerly(`${host.name}-provision`, `${prefix}-provision`, atRoot),
          },
        ),
      );
    }
    return new LocalCommand(
      `${prefix}-role`,
      {
        create: `lxc-attach -n ${name} --clear-env -- bash -s`,
        stdin: role,
        // Drift: a file the role wrote was edited by hand (the role records their hashes), or the host stopped.
        probe: `${substrate("host.sh")} check ${name} ${shellQuote(managedFilesCheck)}`,
        triggers: [container.id],
        rerunOnChange: true,
      },
      {
        parent,
        dependsOn: [...before, ...(opts.dependsOn ?? []), ...(opts.roleDependsOn ?? [])],
        aliases: formerly(`${host.name}-role`, `${prefix}-role`, atRoot),
      },
    );
  }

  firewall(name: string, spec: FirewallSpec, opts: RealizeOptions): Realized {
    if (!spec.backup) return { resources: [this.host(name, spec.host, firewallRoleScript(spec.policy), opts)] };
    // A pair: identical rulesets, the gateway addresses shared by VRRP, the connections' state by conntrackd on LAN2.
    const members = [spec.host, spec.backup];
    const rules = firewallPairRules(members);
    const resources: pulumi.Resource[] = [];
    members.forEach((self, i) => {
      const peer = members[1 - i];
      const vrrp = frontPair(name, self, peer, i === 0, [
        ["lan1", FIREWALL_OUTSIDE, VRRP_IDS.fwOutside],
        ["lan2", FIREWALL_INSIDE, VRRP_IDS.fwInside],
      ]);
      const sync = {
        self: addressOn(self, "lan2"),
        peer: addressOn(peer, "lan2"),
        interface: nicName(self, "lan2"),
        port: CONNTRACK_SYNC_PORT,
        ignore: [...rules.members, FIREWALL_OUTSIDE, FIREWALL_INSIDE],
      };
      const failover = { onMaster: `${FAILOVER_SCRIPT} primary`, onBackup: `${FAILOVER_SCRIPT} backup` };
      // conntrackd is not in the base image (see packages.sh): installed on the firewalls only.
      const packages = this.packages(self, [CONNTRACKD_PACKAGE]);
      resources.push(
        this.host(name, self, firewallRoleScript(spec.policy, { rules, vrrp: { ...vrrp, ...failover }, sync }), {
          ...opts,
          provision: { command: packages, triggers: [CONNTRACKD_PACKAGE] },
          dependsOn: afterPreferred(opts, resources),
        }),
      );
    });
    return { resources };
  }

  database(name: string, spec: DatabaseSpec, opts: RealizeOptions): RealizedDatabase {
    const clients = spec.clients.map((c) => addressOn(c, "lan4"));
    const password = pulumi.secret(spec.password);
    if (spec.standby) return this.patroniPair(name, spec, spec.standby, opts);
    const listen = addressOn(spec.host, "lan4");
    const db = (pw: string): DbArgs => ({
      listen,
      clients,
      database: spec.database,
      user: spec.user,
      password: pw,
      passwordEncryption: spec.passwordEncryption,
    });
    if (!spec.backup) {
      const role = password.apply((pw) => dbRoleScript(db(pw)));
      return { resources: [this.host(name, spec.host, role, opts)], address: pulumi.output(listen) };
    }
    const { backup, monitor } = spec;
    const repository = this.backupRepository(name, backup, [spec.host], { parent: opts.parent, dependsOn: [...backup.ready] });
    const role = password.apply((pw) =>
      backedUpDbRoleScript(db(pw), {
        retentionFull: backup.retentionFull,
        repoServers: backup.storage.map((h) => addressOn(h, "lan4")),
        monitoring: monitor && { listen, nagios: addressOn(monitor, "lan4") },
      }),
    );
    const packages = [BACKUP_PACKAGE, ...(monitor ? [NRPE_PACKAGE] : [])];
    const host = this.host(name, spec.host, role, {
      ...opts,
      provision: { command: this.packages(spec.host, packages), triggers: packages },
      roleDependsOn: [...(opts.dependsOn ?? []), repository],
    });
    return { resources: [host], address: pulumi.output(listen), backedUp: true };
  }

  /** The backup repository: a volume of its own on the storage hosts, mountable by the database hosts only. */
  private backupRepository(
    name: string,
    backup: DatabaseBackupSpec,
    dbHosts: readonly HostPlan[],
    opts: pulumi.CustomResourceOptions,
  ): pulumi.Resource {
    const lan4 = (h: HostPlan) => addressOn(h, "lan4");
    return new LocalCommand(
      `${name}-backup-volume`,
      {
        create: `lxc-attach -n ${containerName(backup.storage[0])} --clear-env -- bash -s`,
        stdin: glusterFormationScript(repoVolumeArgs(backup.storage.map(lan4), dbHosts.map(lan4))),
        rerunOnChange: true,
      },
      opts,
    );
  }

  /**
   * The replicated pair (docs/database.md): Patroni on both nodes, etcd on both and on the witness
   * (a storage host), backups to a volume of the storage hosts, and the app servers' local HAProxy
   * as the endpoint. Packages the base image lacks are installed per host (packages.sh), so stacks
   * without the standby keep their image and hosts.
   */
  private patroniPair(name: string, spec: DatabaseSpec, standby: HostPlan, opts: RealizeOptions): RealizedDatabase {
    const { witness, backup } = spec;
    if (!witness || !backup) throw new Error("the database pair needs its witness and its backup storage (index.ts passes them)");
    const nodes = [spec.host, standby];
    const lan4 = (h: HostPlan) => addressOn(h, "lan4");
    const etcd: EtcdMember[] = [...nodes, witness].map((h) => ({ name: h.name, address: lan4(h) }));
    const storageServers = backup.storage.map(lan4);
    const onWitness = `lxc-attach -n ${containerName(witness)} --clear-env -- bash -s`;
    // The witness's etcd, on a storage host: its package (not in the base image) and its role in one
    // step, so that a rebuilt nas1 gets both; the probe sees a hand-edited or missing etcd setting.
    const witnessRole = new LocalCommand(
      `${name}-${witness.name}-role`,
      {
        create: `${this.packages(witness, WITNESS_PACKAGES)} </dev/null && ${onWitness}`,
        stdin: etcdWitnessRoleScript({ self: witness.name, members: etcd }),
        probe: `${substrate("host.sh")} check ${containerName(witness)} ${shellQuote(`sha256sum <${ETCD_ENV} 2>/dev/null | cut -d' ' -f1`)}`,
        rerunOnChange: true,
      },
      { parent: opts.parent, dependsOn: opts.dependsOn },
    );
    const repository = this.backupRepository(name, backup, nodes, { parent: opts.parent, dependsOn: opts.dependsOn });
    const secrets = pulumi.secret(spec.password).apply(deriveDbSecrets);
    const packages = [...PATRONI_PACKAGES, ...(spec.monitor ? [NRPE_PACKAGE] : [])];
    const resources = nodes.map((self) => {
      const role = secrets.apply((s) =>
        patroniNodeRoleScript(
          {
            name: self.name,
            address: lan4(self),
            peers: nodes.filter((n) => n !== self).map(lan4),
            etcd,
            appClients: spec.clients.map(lan4),
            database: spec.database,
            user: spec.user,
            secrets: s,
            backup: {
              retentionFull: backup.retentionFull,
              repoServers: storageServers,
              monitoring: spec.monitor && { listen: lan4(self), nagios: lan4(spec.monitor) },
            },
          },
          { self: self.name, members: etcd },
        ),
      );
      // Both nodes at once: etcd needs two members to serve, and Patroni bootstraps one and clones the other.
      return this.host(name, self, role, {
        ...opts,
        // The backup repository is a Gluster volume, mounted over FUSE.
        fuse: true,
        provision: { command: this.packages(self, packages), triggers: packages },
        // The packages download while the storage hosts form their volumes.
        dependsOn: [],
        roleDependsOn: [...(opts.dependsOn ?? []), witnessRole, repository],
      });
    });
    return {
      resources,
      address: pulumi.output(DB_PROXY_ADDRESS),
      proxy: nodes.map((n) => ({ name: n.name, address: lan4(n) })),
    };
  }

  /** packages.sh for one host: Debian packages its role needs beyond the base image. */
  private packages(host: HostPlan, names: readonly string[]): string {
    return [substrate("packages.sh"), containerName(host), this.imageName, ...names].join(" ");
  }

  storage(name: string, spec: StorageSpec, opts: RealizeOptions): RealizedStorage {
    const servers = spec.hosts.map((h) => addressOn(h, "lan4"));
    const nodes = spec.hosts.map((h) => this.host(name, h, nasRoleScript({ brick: spec.brick }), opts));
    const [first] = spec.hosts;
    const formation = new LocalCommand(
      `${name}-volume`,
      {
        create: `lxc-attach -n ${containerName(first)} --clear-env -- bash -s`,
        stdin: glusterFormationScript({
          volume: spec.volume,
          servers,
          brick: spec.brick,
          clients: spec.clients.map((c) => addressOn(c, "lan4")),
        }),
        rerunOnChange: true,
      },
      { parent: opts.parent, dependsOn: nodes },
    );
    return { resources: [formation], addresses: pulumi.output(servers) };
  }

  appTier(name: string, spec: AppTierSpec, opts: RealizeOptions): RealizedAppTier {
    const bundle = this.appBundle(name, spec, opts);
    // One server after the other, each health-gated (release.sh): a release that does not come up
    // healthy stops the rollout at that server, which goes back to its previous release.
    const resources: pulumi.Resource[] = [];
    for (const server of spec.servers) {
      const listen = addressOn(server, "lan3");
      const health = spec.healthPath ? `http://${listen}:${spec.port}${spec.healthPath}` : `tcp://${listen}:${spec.port}`;
      const uploads = spec.app?.uploadDir && !path.isAbsolute(spec.app.uploadDir) ? ["--uploads", shellQuote(spec.app.uploadDir)] : [];
      const release = [
        substrate("release.sh"),
        containerName(server),
        shellQuote(bundle.dir),
        bundle.release,
        ...spec.balancers.flatMap((b) => ["--balancer", containerName(b)]),
        ...["--backend", `${APP_BACKEND}/${server.name}`],
        ...["--health", health, "--timeout", String(spec.rolloutTimeout)],
        ...uploads,
      ].join(" ");
      const roleScript = pulumi
        .all([spec.databaseUrl, spec.sessionSecret, spec.adminPassword, spec.storageAddresses])
        .apply(([databaseUrl, sessionSecret, adminPassword, glusterServers]) =>
          appRoleScript({
            listen,
            port: spec.port,
            databaseUrl,
            sessionSecret,
            adminPassword,
            volume: spec.volume,
            glusterServers,
            custom: spec.app && customApp(spec.app, { databaseUrl, sessionSecret }),
            behindHttps: spec.behindHttps,
            databaseProxy: spec.databaseProxy && { nodes: spec.databaseProxy },
          }),
        );
      const previous = resources.slice(-1);
      resources.push(
        this.host(name, server, pulumi.secret(roleScript), {
          ...opts,
          fuse: true,
          provision: { command: release, triggers: [bundle.release] },
          dependsOn: [bundle.command, ...previous, ...(opts.dependsOn ?? [])],
        }),
      );
    }
    if (!spec.app) resources.push(this.contract(name, spec.servers[spec.servers.length - 1], bundle.release, resources, opts));
    return { resources, members: spec.servers.map((s) => ({ name: s.name, address: addressOn(s, "lan3") })) };
  }

  /**
   * The CRM's contract migrations (app/README.md), once per release on the last server, after
   * every server's release: no server of the previous release is left to need what they drop.
   * A rollout stopped by an unhealthy server fails its release resource, so this never runs.
   */
  private contract(name: string, last: HostPlan, release: string, servers: pulumi.Resource[], opts: RealizeOptions): pulumi.Resource {
    return new LocalCommand(
      `${name}-contract`,
      { create: `lxc-attach -n ${containerName(last)} --clear-env -- ${CONTRACT_PATH}`, triggers: [release], rerunOnChange: true },
      { parent: opts.parent, dependsOn: servers },
    );
  }

  /**
   * The app's bundle, built on this machine: the project's CRM (app/scripts/bundle.sh) or the
   * user's app (app-bundle.sh). It records its release in the bundle, which the probe reads: a
   * bundle that another stack rebuilt, or that was cleaned away, is rebuilt by `up --refresh`.
   */
  private appBundle(name: string, spec: AppTierSpec, opts: RealizeOptions): { command: LocalCommand; dir: string; release: string } {
    let dir: string, release: string, build: string;
    if (spec.app) {
      const app = resolveApp(spec.app);
      [dir, release] = [USER_APP_BUNDLE, app.release];
      const install = spec.app.install ? [shellQuote(spec.app.install)] : [];
      build = [substrate("app-bundle.sh"), shellQuote(dir), shellQuote(app.source), shellQuote(app.ref), spec.app.node, ...install].join(
        " ",
      );
    } else {
      const own = appBundleDir();
      [dir, release] = [own.dir, own.hash];
      build = `app/scripts/bundle.sh ${shellQuote(dir)}`;
    }
    const marker = shellQuote(`${dir}/.crm-release`);
    const command = new LocalCommand(
      `${name}-bundle`,
      {
        create: `${build} && echo ${release} >${marker}`,
        probe: `cat ${marker} 2>/dev/null || echo ${ABSENT}`,
        triggers: [release],
        rerunOnChange: true,
      },
      { parent: opts.parent, aliases: formerly("app-bundle", `${name}-bundle`) },
    );
    return { command, dir, release };
  }

  monitoring(name: string, spec: MonitoringSpec, opts: RealizeOptions): Realized {
    const listen = addressOn(spec.host, "lan3");
    const roleScript = spec.adminPassword.apply((adminPassword) =>
      monitorRoleScript({
        hosts: [
          ...spec.watched.map((h) => ({ name: h.name, address: reachableFromInside(h), role: h.role })),
          ...spec.virtualAddresses.map((v) => ({ ...v, shared: true })),
        ],
        appPort: spec.appPort,
        healthPath: spec.healthPath,
        haproxyStatsPort: spec.watched.some((h) => h.role === "balancer") ? STATS_PORT : undefined,
        adminPassword,
        listen,
        database: spec.database,
      }),
    );
    // check_nrpe (the database hosts' backup age) is not in the base image: installed here only when needed.
    const provision = spec.database
      ? { command: this.packages(spec.host, [NRPE_PLUGIN_PACKAGE]), triggers: [NRPE_PLUGIN_PACKAGE] }
      : undefined;
    return { resources: [this.host(name, spec.host, pulumi.secret(roleScript), { ...opts, provision })] };
  }

  management(name: string, spec: ManagementSpec, opts: RealizeOptions): Realized {
    const script = managementRoleScript({
      authorizedKeys: spec.authorizedKeys,
      listen: addressOn(spec.host, "lan3"),
      managedHosts: spec.managed.map((h) => ({ name: h.name, address: reachableFromInside(h) })),
    });
    return { resources: [this.host(name, spec.host, script, opts)] };
  }

  clients(hosts: readonly HostPlan[], trustedCa?: pulumi.Input<string>): Realized {
    const role = pulumi.output(trustedCa).apply((ca) => clientRoleScript(ca));
    return { resources: hosts.map((h) => this.host(this.substrate.name, h, role, { formerlyAtRoot: true })) };
  }

  loadBalancer(name: string, spec: LoadBalancerSpec, opts: RealizeOptions): RealizedLoadBalancer {
    const members = spec.backup ? [spec.host, spec.backup] : [spec.host];
    const resources: pulumi.Resource[] = [];
    // One certificate for the service address: both members of a pair serve it.
    const issued = spec.tls?.issue(name, { ipAddresses: [SERVICE_ADDRESS] }, { parent: opts.parent });
    const certificate = issued && pulumi.all([issued.certificatePem, issued.privateKeyPem]);
    members.forEach((self, i) => {
      // A pair shares the service address and the app servers' gateway; both bind them (see balancerRoleScript).
      const pair = spec.backup
        ? frontPair(name, self, members[1 - i], i === 0, [
            ["lan2", SERVICE_ADDRESS, VRRP_IDS.lbService],
            ["lan3", BALANCER_FRONT, VRRP_IDS.lbFront],
          ])
        : undefined;
      const roleScript = pulumi
        .all([pulumi.all(spec.members.map((m) => pulumi.output(m.address))), certificate])
        .apply(([addresses, pem]) =>
          balancerRoleScript(
            {
              bind: `${SERVICE_ADDRESS}:${HTTP_PORT}`,
              backends: spec.members.map((m, j) => ({ name: m.name, address: addresses[j], port: spec.port })),
              algorithm: spec.algorithm,
              healthPath: spec.healthPath,
              // On the member's own front address, where Nagios checks each member of a pair, and on the
              // shared one (the same address without a pair), where the tests read the holder's page.
              statsBind: [...new Set([addressOn(self, "lan3"), BALANCER_FRONT])].map((a) => `${a}:${STATS_PORT}`).join(","),
              tls: pem && { bind: `${SERVICE_ADDRESS}:${HTTPS_PORT}` },
            },
            pair,
            pem && { certificatePem: pem[0], privateKeyPem: pem[1] },
          ),
        );
      // The script holds the certificate's key: a secret (the state keeps only its hash, see LocalCommand).
      resources.push(this.host(name, self, pulumi.secret(roleScript), { ...opts, dependsOn: afterPreferred(opts, resources) }));
    });
    return { resources, url: pulumi.output(`${spec.tls ? "https" : "http"}://${SERVICE_ADDRESS}/`) };
  }
}

/**
 * A pair's second member is configured after the preferred one, so that on a first deploy the
 * preferred member's keepalived has taken the addresses before the other's starts (with
 * `nopreempt`, whichever starts first would otherwise keep them).
 */
function afterPreferred(opts: RealizeOptions, before: readonly pulumi.Resource[]): pulumi.Input<pulumi.Resource>[] {
  return [...(opts.dependsOn ?? []), ...before];
}

/** A host's NIC on a LAN: the containers' NICs are eth0, eth1 … in the plan's order (host.sh). */
export function nicName(host: HostPlan, lan: Lan): string {
  const index = host.nics.findIndex((n) => n.lan === lan);
  if (index < 0) throw new Error(`host ${host.name} has no NIC on ${lan}`);
  return `eth${index}`;
}

/** One member's side of a front pair: one VRRP instance per shared address, from the member's own address to its peer's. */
export function frontPair(
  pair: string,
  self: HostPlan,
  peer: HostPlan,
  preferred: boolean,
  shared: readonly (readonly [Lan, string, number])[],
): VrrpPairArgs {
  const addresses: VrrpAddress[] = shared.map(([lan, address, routerId]) => ({
    name: lan,
    interface: nicName(self, lan),
    routerId,
    self: addressOn(self, lan),
    peer: addressOn(peer, lan),
    virtual: `${address}/${LANS[lan].cidr.split("/")[1]}`,
  }));
  return { pair, member: self.name, preferred, addresses };
}

/** The address an inside host (on LAN3/LAN4) uses for a host: its front side, else its back, else the DMZ (fw). */
function reachableFromInside(host: HostPlan): string {
  const order = ["lan3", "lan4", "lan2", "lan1"] as const;
  const lan = order.find((l) => host.nics.some((n) => n.lan === l))!;
  return addressOn(host, lan);
}

/** A user's app (crm:app) as its servers run it, with its variables resolved. */
function customApp(app: AppSettings, values: AppEnvValues): CustomApp {
  return {
    start: app.start,
    healthPath: app.healthPath,
    env: customAppEnv(app.env, values),
    migrate: app.migrate,
    seed: app.seed,
    absoluteUploadDir: app.uploadDir && path.isAbsolute(app.uploadDir) ? app.uploadDir : undefined,
  };
}
