/**
 * The openstack target: the scenario's LANs as Neutron networks with the plan's addresses,
 * security groups mirroring the firewall, servers configured by cloud-init with the same role
 * scripts as vnx, Cinder volumes for the bricks and the database, and Octavia (or, where a
 * cloud has none, an HAProxy server running roles/balancer.ts) behind a floating IP.
 */
import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import { addressOn, APP_PORT, hostsWithRole, LANS, planScenario, SERVICE_ADDRESS, type HostPlan, type Role } from "../../topology/plan";
import { SettingsError, type Settings } from "../../topology/settings";
import { forTier, scenarioFlows, type Tier } from "../aws/flows";
import { appCloudInit, balancerCloudInit, dbCloudInit, nasCloudInits, type CloudInitInput } from "../aws/roles";
import { securityGroupRules } from "../aws/security";
import { appDownload, unsupportedOnClouds } from "../aws/settings";
import { cloudInstallApp } from "../cloudinit";
import type {
  AppTierSpec,
  DatabaseSpec,
  FirewallSpec,
  LoadBalancerSpec,
  Platform,
  RealizeOptions,
  Realized,
  RealizedAppTier,
  RealizedDatabase,
  RealizedLoadBalancer,
  RealizedStorage,
  StorageSpec,
} from "../platform";
import { createOpenStackHost, createPorts, type HostContext } from "./host";
import { createNetwork } from "./network";
import { createRules, createSecurityGroups, octaviaPeers, type SecurityGroups } from "./security";
import { loadOpenStackSettings, type OpenStackSettings } from "./settings";

export const ROLE_TIER: Readonly<Partial<Record<Role, Tier>>> = { balancer: "lb", app: "app", db: "db", nas: "nas", management: "mgmt" };

/** Octavia's pool algorithm for the component's choice. */
export function octaviaMethod(algorithm: LoadBalancerSpec["algorithm"]): "ROUND_ROBIN" | "LEAST_CONNECTIONS" {
  return algorithm === "roundrobin" ? "ROUND_ROBIN" : "LEAST_CONNECTIONS";
}

export function openstackSettingsProblem(settings: Settings): string | undefined {
  if (settings.dbStandby) return "crm:dbStandby: the standby database is not available on openstack yet";
  return unsupportedOnClouds(settings, "openstack");
}

export class OpenStackPlatform implements Platform {
  public readonly target = "openstack";
  private readonly os: OpenStackSettings;
  private readonly hosts: readonly HostPlan[];
  private readonly provider: openstack.Provider;
  private readonly ctx: HostContext;
  private readonly groups: SecurityGroups;
  private readonly tiers: Tier[];
  /** Every server's ports, by host name: made before any server, like the addresses they carry. */
  private readonly ports = new Map<string, openstack.networking.Port[]>();

  constructor(settings: Settings) {
    this.os = loadOpenStackSettings();
    const problem = openstackSettingsProblem(settings);
    if (problem) throw new SettingsError(problem);
    this.hosts = planScenario(settings);
    this.provider = new openstack.Provider("openstack", { cloud: this.os.osCloud, region: this.os.osRegion });
    const network = createNetwork(this.os.osExternalNetwork, this.provider);
    this.ctx = {
      provider: this.provider,
      network,
      imageName: this.os.osImage,
      flavorName: this.os.osFlavor,
      keyPair: this.os.osKeyPair,
      volumeSizeGiB: this.os.osVolumeSize,
    };
    this.tiers = ["lb", "app", "db", "nas", ...(settings.management ? (["mgmt"] as const) : [])];
    this.groups = createSecurityGroups(this.tiers, { provider: this.provider });
    const servers = [
      ...(this.os.osOctavia ? [] : hostsWithRole(this.hosts, "balancer")),
      ...(["app", "nas", "db", "management"] as const).flatMap((r) => hostsWithRole(this.hosts, r)),
    ];
    for (const host of servers) this.ports.set(host.name, createPorts(this.ctx, host, forTier(this.groups, this.tierOf(host)).id));
  }

  private tierOf(host: HostPlan): Tier {
    const tier = ROLE_TIER[host.role];
    if (!tier) throw new Error(`the openstack target has no tier for role ${host.role}`);
    return tier;
  }

  private server(
    host: HostPlan,
    args: { cloudInit: pulumi.Input<CloudInitInput>; secret: boolean; volumeAt?: string; stateless: boolean },
    opts: RealizeOptions,
  ) {
    const ports = this.ports.get(host.name);
    if (!ports) throw new Error(`host ${host.name} has no ports on openstack`);
    return createOpenStackHost(this.ctx, { host, ports, ...args, parent: opts.parent, dependsOn: opts.dependsOn });
  }

  /** A floating IP from the external network on a port (the entry points' public addresses). */
  private floatingIp(name: string, portId: pulumi.Input<string>, parent: pulumi.Resource): openstack.networking.FloatingIp {
    return new openstack.networking.FloatingIp(name, { pool: this.os.osExternalNetwork, portId }, { provider: this.provider, parent });
  }

  firewall(_name: string, spec: FirewallSpec, opts: RealizeOptions): Realized {
    const o = { provider: this.provider, parent: opts.parent };
    const management = hostsWithRole(this.hosts, "management")[0];
    const flows = scenarioFlows(spec.policy, {
      appPort: APP_PORT,
      managementAddress: management?.nics[0].address,
      hasManagement: management !== undefined,
    });
    const derived = securityGroupRules(flows, this.tiers, ["lb", "app", "db", "nas", "mgmt"]);
    const rules = this.os.osOctavia ? octaviaPeers(derived, LANS.lan3.cidr) : derived;
    const resources = createRules(this.groups, rules, o);
    if (management) {
      // The fw's SSH forward to ges: the management server with a floating IP, its group open to crm:adminCidr only.
      resources.push(
        ...this.server(management, { cloudInit: { hostname: management.name, role: "management" }, secret: false, stateless: true }, opts),
      );
      resources.push(this.floatingIp(`${management.name}-ip`, this.ports.get(management.name)![0].id, opts.parent));
    }
    return { resources };
  }

  database(_name: string, spec: DatabaseSpec, opts: RealizeOptions): RealizedDatabase {
    const listen = addressOn(spec.host, "lan4");
    const cloudInit = dbCloudInit(
      spec,
      listen,
      spec.clients.map((c) => addressOn(c, "lan4")),
    );
    return {
      resources: this.server(spec.host, { cloudInit, secret: true, volumeAt: "/var/lib/postgresql", stateless: false }, opts),
      address: pulumi.output(listen),
    };
  }

  storage(_name: string, spec: StorageSpec, opts: RealizeOptions): RealizedStorage {
    const servers = spec.hosts.map((h) => addressOn(h, "lan4"));
    const cloudInits = nasCloudInits(
      spec,
      servers,
      spec.clients.map((c) => addressOn(c, "lan4")),
    );
    const resources = spec.hosts.flatMap((h, i) =>
      this.server(h, { cloudInit: cloudInits[i], secret: false, volumeAt: spec.brick, stateless: false }, opts),
    );
    return { resources, addresses: pulumi.output(servers) };
  }

  appTier(_name: string, spec: AppTierSpec, opts: RealizeOptions): RealizedAppTier {
    const installApp = cloudInstallApp(appDownload(this.os));
    const resources = spec.servers.flatMap((s) =>
      this.server(s, { cloudInit: appCloudInit(s, spec, addressOn(s, "lan3"), installApp), secret: true, stateless: true }, opts),
    );
    return { resources, members: spec.servers.map((s) => ({ name: s.name, address: addressOn(s, "lan3") })) };
  }

  loadBalancer(name: string, spec: LoadBalancerSpec, opts: RealizeOptions): RealizedLoadBalancer {
    return this.os.osOctavia ? this.octavia(name, spec, opts) : this.haproxy(name, spec, opts);
  }

  /** Octavia: the VIP at the plan's service address on the DMZ, members on the front LAN. */
  private octavia(name: string, spec: LoadBalancerSpec, opts: RealizeOptions): RealizedLoadBalancer {
    const o = { provider: this.provider, parent: opts.parent };
    const subnets = this.ctx.network.subnets;
    const lb = new openstack.loadbalancer.LoadBalancer(
      name,
      { vipSubnetId: subnets.lan2.id, vipAddress: SERVICE_ADDRESS, securityGroupIds: [forTier(this.groups, "lb").id] },
      { ...o, dependsOn: opts.dependsOn },
    );
    // Client idle timeout 60 s, below the app's keep-alive (65 s), as with HAProxy on vnx.
    const listener = new openstack.loadbalancer.Listener(
      `${name}-http`,
      { loadbalancerId: lb.id, protocol: "HTTP", protocolPort: 80, timeoutClientData: 60000 },
      o,
    );
    const pool = new openstack.loadbalancer.Pool(
      `${name}-app`,
      { listenerId: listener.id, protocol: "HTTP", lbMethod: octaviaMethod(spec.algorithm) },
      o,
    );
    const monitor = new openstack.loadbalancer.Monitor(
      `${name}-health`,
      {
        poolId: pool.id,
        type: "HTTP",
        httpMethod: "GET",
        urlPath: spec.healthPath,
        expectedCodes: "200",
        delay: 5,
        timeout: 4,
        maxRetries: 2,
        maxRetriesDown: 2,
      },
      o,
    );
    const members = spec.members.map(
      (m) =>
        new openstack.loadbalancer.Member(
          `${name}-${m.name}`,
          { poolId: pool.id, address: m.address, protocolPort: spec.port, subnetId: subnets.lan3.id },
          o,
        ),
    );
    const ip = this.floatingIp(`${name}-ip`, lb.vipPortId, opts.parent);
    return { resources: [lb, listener, pool, monitor, ...members, ip], url: pulumi.interpolate`http://${ip.address}/` };
  }

  /** Where Octavia is absent: the lb host of the plan, running the vnx balancer's role script. */
  private haproxy(_name: string, spec: LoadBalancerSpec, opts: RealizeOptions): RealizedLoadBalancer {
    const cloudInit = balancerCloudInit(spec, `${SERVICE_ADDRESS}:80`, `${addressOn(spec.host, "lan3")}:8404`);
    const resources = this.server(spec.host, { cloudInit, secret: false, stateless: true }, opts);
    const dmz = this.ports.get(spec.host.name)![0];
    const ip = this.floatingIp(`${spec.host.name}-ip`, dmz.id, opts.parent);
    return { resources: [...resources, ip], url: pulumi.interpolate`http://${ip.address}/` };
  }
}
