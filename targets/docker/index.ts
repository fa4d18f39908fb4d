/**
 * The docker target: the seed's scenario on a Docker engine, with @pulumi/docker. Four bridge
 * networks are the four LANs; each host is a container of one image (built from
 * crm:dockerBaseImage) booting systemd, with its static address on each of its LANs; each is
 * configured by the same role script as on vnx, piped into `docker exec` by a local command.
 * Addresses are the seed's plan moved to crm:dockerCidr (addresses.ts). HTTP only: the balancer
 * does not terminate TLS here, so a certificate of the user's own is refused, like the front pairs.
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
import { appRoleScript, CONTRACT_PATH } from "../../roles/app";
import { balancerRoleScript, STATS_PORT } from "../../roles/balancer";
import { dbRoleScript } from "../../roles/db";
import { firewallRoleScript } from "../../roles/firewall";
import { managementRoleScript } from "../../roles/management";
import { monitorRoleScript } from "../../roles/monitor";
import { glusterFormationScript, nasRoleScript } from "../../roles/nas";
import { roleScript, shellQuote } from "../../roles/script";
import { TLS_KEYS } from "../../tls/checks";
import { addressOn, LANS, SERVICE_ADDRESS, type HostPlan, type Lan } from "../../topology/plan";
import type * as port from "../platform";
import { insideAddress, lanSubnet, moveAddress, moveHost, movePolicy } from "./addresses";
import { dockerCli, engineProblem } from "./engine";
import { appRelease, BUNDLE_DIR, hostImageName, IMAGE_CONTEXT, nodeVersion, PROJECT_ROOT } from "./image";
import { loadDockerSettings, type DockerSettings } from "./settings";

/** Every Docker object of the scenario is named with this prefix (vnx's LXC containers and bridges are crm-* and crmlan*). */
export const PREFIX = "crmd";
const LAN_NAMES = Object.keys(LANS) as Lan[];

export const containerName = (host: HostPlan): string => `${PREFIX}-${host.name}`;
export const networkName = (lan: Lan): string => `${PREFIX}-${lan}`;
const SUBSTRATE = "docker";

/** Scripts run on the machine, named relative to the project (the engine runs commands from there). */
const script = (name: string): string => shellQuote(path.relative(PROJECT_ROOT, path.join(__dirname, "scripts", name)));

/**
 * What a systemd container needs: its own cgroup namespace, tmpfs for /run, SIGRTMIN+3 to stop,
 * and the capabilities of a full host. Not `privileged`: that asks for every capability, and a
 * machine whose own bounding set lacks one (CAP_SYS_RESOURCE on the machine this was built on)
 * cannot start such a container at all; the explicit set below works on both.
 */
export const SYSTEMD_CONTAINER = {
  command: ["/sbin/init"],
  cgroupnsMode: "private",
  tmpfs: { "/run": "rw,mode=755", "/run/lock": "rw" },
  stopSignal: "SIGRTMIN+3",
  capabilities: { adds: ["ALL"], drops: ["SYS_RESOURCE"] },
  securityOpts: ["seccomp=unconfined", "apparmor=unconfined", "systempaths=unconfined"],
  restart: "unless-stopped",
  destroyGraceSeconds: 20,
} satisfies Omit<docker.ContainerArgs, "image">;

/** The name of a host's resources under its component: `fw` for the fw host of Firewall "fw", `crm-s1` for s1 of CrmTier "crm". */
function childPrefix(component: string, host: HostPlan): string {
  return host.name === component ? component : `${component}-${host.name}`;
}

interface HostOptions extends Partial<port.RealizeOptions> {
  /** GlusterFS clients mount over FUSE. */
  readonly fuse?: boolean;
  /** A named volume of the host's own at this path (bricks, database files): it outlives the container. */
  readonly dataAt?: string;
  /** Ports published on the machine. */
  readonly ports?: docker.types.input.ContainerPort[];
  /** Commands run on the machine after the container boots and before its role (the app bundle, …). */
  readonly before?: (parent: pulumi.Resource, boot: pulumi.Resource) => pulumi.Resource[];
}

export class DockerPlatform implements port.Platform {
  public readonly target = "docker";
  /** What the docker target owns outside any component: the engine's provider, the networks, the image, the clients. */
  private readonly substrate = new pulumi.ComponentResource("crm:docker:Substrate", SUBSTRATE);
  private readonly provider: docker.Provider;
  private readonly networks: Record<Lan, docker.Network>;
  private readonly image: docker.Image;
  /** Recorded as a label on every Docker object. */
  private readonly owner = `${pulumi.getProject()}/${pulumi.getStack()}`;
  private readonly environment: Record<string, string>;

  /** The platform on the configured engine, after checking that the engine answers and has the base image. */
  static onThisEngine(): DockerPlatform {
    const settings = loadDockerSettings();
    const problem = engineProblem(settings, dockerCli);
    if (problem) throw new pulumi.RunError(`crm:target docker: ${problem}`);
    return new DockerPlatform(settings);
  }

  constructor(private readonly settings: DockerSettings) {
    const parent = this.substrate;
    this.environment = { DOCKER_HOST: settings.host };
    this.provider = new docker.Provider("docker-engine", { host: settings.host }, { parent });
    const labels = [{ label: "crm.owner", value: this.owner }];
    this.networks = Object.fromEntries(
      LAN_NAMES.map((lan) => {
        const { subnet, gateway } = lanSubnet(lan, settings.cidr);
        const network = new docker.Network(
          `docker-${lan}`,
          {
            name: networkName(lan),
            driver: "bridge",
            ipamConfigs: [{ subnet, gateway }],
            labels,
            options: {
              "com.docker.network.bridge.name": networkName(lan),
              // Nothing leaves the scenario: no masquerading out of the machine's uplink.
              "com.docker.network.bridge.enable_ip_masquerade": "false",
              // The machine sits on the outside LAN only (as on vnx); the inside LANs are reached through fw.
              ...(lan === "lan1" ? {} : { "com.docker.network.bridge.inhibit_ipv4": "true" }),
            },
          },
          { parent, provider: this.provider },
        );
        return [lan, network];
      }),
    ) as Record<Lan, docker.Network>;
    this.image = new docker.Image(
      "docker-image",
      {
        imageName: hostImageName(settings.baseImage),
        build: {
          context: IMAGE_CONTEXT,
          dockerfile: path.join(IMAGE_CONTEXT, "Dockerfile"),
          args: { BASE: settings.baseImage, NODE_VERSION: nodeVersion() },
          builderVersion: "BuilderV1",
        },
        // A local image: the engine that builds it runs it.
        skipPush: true,
      },
      { parent, provider: this.provider },
    );
  }

  /** One scenario host: its container, the boot step (routes), optional steps, then its role script. */
  private host(component: string, planned: HostPlan, role: pulumi.Input<string>, opts: HostOptions): pulumi.Resource {
    const host = moveHost(planned, this.settings.cidr);
    const name = containerName(host);
    const prefix = childPrefix(component, host);
    const parent = opts.parent ?? this.substrate;
    const resource = { parent, provider: this.provider };
    const data = opts.dataAt
      ? new docker.Volume(`${prefix}-data`, { name: `${name}-data`, labels: [{ label: "crm.owner", value: this.owner }] }, resource)
      : undefined;
    const container = new docker.Container(
      `${prefix}-container`,
      {
        ...SYSTEMD_CONTAINER,
        name,
        hostname: host.name,
        image: this.image.imageName,
        // The provider creates the container, takes it off Docker's default bridge and joins these before starting it. The
        // engine makes the lowest-named network its primary one (its published ports, its default route): LAN1 for fw.
        networksAdvanced: host.nics.map((n) => ({ name: this.networks[n.lan].name, ipv4Address: n.address })),
        devices: opts.fuse ? [{ hostPath: "/dev/fuse", containerPath: "/dev/fuse", permissions: "rwm" }] : [],
        volumes: data && opts.dataAt ? [{ volumeName: data.name, containerPath: opts.dataAt }] : [],
        ports: opts.ports ?? [],
        labels: [
          { label: "crm.owner", value: this.owner },
          { label: "crm.host", value: host.name },
        ],
      },
      // A container has a fixed name: the old one must go before its replacement comes.
      { ...resource, deleteBeforeReplace: true, dependsOn: Object.values(this.networks) },
    );
    const boot = this.command(
      `${prefix}-boot`,
      {
        create: [script("boot.sh"), name, ...host.routes.flatMap((r) => ["--route", `${r.to}=${r.via}`])].join(" "),
        triggers: [container.id],
      },
      { parent, dependsOn: [container] },
    );
    const before = opts.before?.(parent, boot) ?? [boot];
    return this.command(
      `${prefix}-role`,
      { create: `docker exec -i ${name} bash -s`, stdin: role, triggers: [container.id] },
      { parent, dependsOn: [...before, ...(opts.dependsOn ?? [])] },
    );
  }

  /** A command on the machine under a component, in the project's folder, talking to the configured engine. */
  private command(name: string, args: command.local.CommandArgs, opts: pulumi.CustomResourceOptions): command.local.Command {
    return new command.local.Command(name, { dir: PROJECT_ROOT, environment: this.environment, ...args }, opts);
  }

  private moved = (address: string): string => moveAddress(address, this.settings.cidr);

  firewall(name: string, spec: port.FirewallSpec, opts: port.RealizeOptions): port.Realized {
    if (spec.backup)
      throw new pulumi.ResourceError(
        "crm:frontHa: the docker target cannot realize the front pairs: its entry point is a port Docker publishes on one container (fw), which no VRRP takeover can move to another; use the vnx target",
        opts.parent,
      );
    const fw = moveHost(spec.host, this.settings.cidr);
    const machine = lanSubnet("lan1", this.settings.cidr).gateway;
    const role = this.host(name, spec.host, firewallRoleScript(movePolicy(spec.policy, this.settings.cidr)), {
      ...opts,
      ports: [{ internal: 80, external: this.settings.publishPort, ip: this.settings.publishAddress, protocol: "tcp" }],
    });
    const publish = this.command(
      `${name}-publish`,
      {
        create: [script("publish.sh"), containerName(fw), machine, addressOn(fw, "lan1"), this.moved(SERVICE_ADDRESS)].join(" "),
        triggers: [role.urn],
      },
      { parent: opts.parent, dependsOn: [role] },
    );
    return { resources: [role, publish] };
  }

  database(name: string, spec: port.DatabaseSpec, opts: port.RealizeOptions): port.RealizedDatabase {
    if (spec.standby)
      throw new pulumi.ResourceError(
        "crm:dbStandby: the docker target does not realize the standby yet: Patroni, etcd and pgBackRest are installed per host on vnx (the hosts' image here lacks them), and the pair has been tested on LXC only",
        opts.parent,
      );
    const listen = this.moved(addressOn(spec.host, "lan4"));
    const clients = spec.clients.map((c) => this.moved(addressOn(c, "lan4")));
    const role = pulumi
      .secret(spec.password)
      .apply((password) => dbRoleScript({ listen, clients, database: spec.database, user: spec.user, password }));
    return { resources: [this.host(name, spec.host, role, { ...opts, dataAt: "/var/lib/postgresql" })], address: pulumi.output(listen) };
  }

  storage(name: string, spec: port.StorageSpec, opts: port.RealizeOptions): port.RealizedStorage {
    const servers = spec.hosts.map((h) => this.moved(addressOn(h, "lan4")));
    const nodes = spec.hosts.map((h) => this.host(name, h, nasRoleScript({ brick: spec.brick }), { ...opts, dataAt: spec.brick }));
    const formation = this.command(
      `${name}-volume`,
      {
        create: `docker exec -i ${containerName(spec.hosts[0])} bash -s`,
        stdin: glusterFormationScript({
          volume: spec.volume,
          servers,
          brick: spec.brick,
          clients: spec.clients.map((c) => this.moved(addressOn(c, "lan4"))),
        }),
      },
      { parent: opts.parent, dependsOn: nodes },
    );
    return { resources: [formation], addresses: pulumi.output(servers) };
  }

  appTier(name: string, spec: port.AppTierSpec, opts: port.RealizeOptions): port.RealizedAppTier {
    const release = appRelease();
    const dir = shellQuote(BUNDLE_DIR);
    const bundle = this.command(
      `${name}-bundle`,
      // Built once per release: the stamp is written after bundle.sh swapped the new tree in.
      {
        create: `test "$(cat ${dir}/.crm-release 2>/dev/null)" = ${release} || { app/scripts/bundle.sh ${dir} && echo ${release} >${dir}/.crm-release; }`,
        triggers: [release],
      },
      { parent: opts.parent },
    );
    const members = spec.servers.map((s) => ({ name: s.name, address: this.moved(addressOn(s, "lan3")) }));
    const resources = spec.servers.map((server, i) => {
      const listen = members[i].address;
      const role = pulumi
        .all([spec.databaseUrl, spec.sessionSecret, spec.adminPassword, spec.storageAddresses])
        .apply(([databaseUrl, sessionSecret, adminPassword, glusterServers]) =>
          appRoleScript({ listen, port: spec.port, databaseUrl, sessionSecret, adminPassword, volume: spec.volume, glusterServers }),
        );
      return this.host(name, server, pulumi.secret(role), {
        ...opts,
        fuse: true,
        dependsOn: [bundle, ...(opts.dependsOn ?? [])],
        before: (parent, boot) => [
          this.command(
            `${childPrefix(name, server)}-app`,
            { create: [script("install-app.sh"), containerName(server), shellQuote(BUNDLE_DIR), release].join(" "), triggers: [release] },
            { parent, dependsOn: [boot, bundle] },
          ),
        ],
      });
    });
    // The CRM's contract migrations (app/README.md), once per release, after every server runs it:
    // all servers take a release together here, so none of the previous one is left to need what
    // they drop. A server whose release fails fails `up` before this runs.
    const last = containerName(spec.servers[spec.servers.length - 1]);
    const contract = this.command(
      `${name}-contract`,
      { create: `docker exec ${last} ${CONTRACT_PATH}`, triggers: [release] },
      { parent: opts.parent, dependsOn: resources },
    );
    return { resources: [...resources, contract], members };
  }

  loadBalancer(name: string, spec: port.LoadBalancerSpec, opts: port.RealizeOptions): port.RealizedLoadBalancer {
    // Refused rather than ignored: a setting that silently does nothing is a knob nobody reads.
    if (spec.tls?.own)
      throw new pulumi.ResourceError(
        `${TLS_KEYS.certificate}, ${TLS_KEYS.key}: the docker target serves the CRM over HTTP only (its balancer does not terminate TLS yet), so your certificate would not be used; remove both settings or use the vnx target`,
        opts.parent,
      );
    const service = this.moved(SERVICE_ADDRESS);
    const front = this.moved(addressOn(spec.host, "lan3"));
    const role = pulumi.all(spec.members.map((m) => pulumi.output(m.address))).apply((addresses) =>
      balancerRoleScript({
        bind: `${service}:80`,
        backends: spec.members.map((m, i) => ({ name: m.name, address: addresses[i], port: spec.port })),
        algorithm: spec.algorithm,
        healthPath: spec.healthPath,
        statsBind: `${front}:${STATS_PORT}`,
      }),
    );
    const url = `http://${this.settings.publishAddress}:${this.settings.publishPort}/`;
    return { resources: [this.host(name, spec.host, role, opts)], url: pulumi.output(url) };
  }

  monitoring(name: string, spec: port.MonitoringSpec, opts: port.RealizeOptions): port.Realized {
    const watched = spec.watched.map((h) => moveHost(h, this.settings.cidr));
    const role = spec.adminPassword.apply((adminPassword) =>
      monitorRoleScript({
        hosts: watched.map((h) => ({ name: h.name, address: insideAddress(h), role: h.role })),
        appPort: spec.appPort,
        healthPath: spec.healthPath,
        haproxyStatsPort: watched.some((h) => h.role === "balancer") ? STATS_PORT : undefined,
        adminPassword,
        listen: this.moved(addressOn(spec.host, "lan3")),
      }),
    );
    return { resources: [this.host(name, spec.host, pulumi.secret(role), opts)] };
  }

  management(name: string, spec: port.ManagementSpec, opts: port.RealizeOptions): port.Realized {
    const role = managementRoleScript({
      authorizedKeys: spec.authorizedKeys,
      listen: this.moved(addressOn(spec.host, "lan3")),
      managedHosts: spec.managed.map((h) => ({ name: h.name, address: insideAddress(moveHost(h, this.settings.cidr)) })),
    });
    return { resources: [this.host(name, spec.host, role, opts)] };
  }

  clients(hosts: readonly HostPlan[]): port.Realized {
    return { resources: hosts.map((h) => this.host(SUBSTRATE, h, roleScript("client"), {})) };
  }
}
