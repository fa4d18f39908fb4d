/**
 * The openstack target: the scenario's LANs as Neutron networks with the plan's addresses,
 * security groups mirroring the firewall, servers configured by cloud-init with the same role
 * scripts as vnx, Cinder volumes for the bricks and the database, and Octavia (or, where a
 * cloud has none, an HAProxy server running roles/balancer.ts) behind a floating IP. The app
 * bundle (with Node.js) is built here and served to the app servers from Swift.
 */
import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import { STATS_PORT } from "../../roles/balancer";
import { addressOn, APP_PORT, hostsWithRole, LANS, SERVICE_ADDRESS, type HostPlan, type Role } from "../../topology/plan";
import { SettingsError, type Settings } from "../../topology/settings";
import { AppBundle, bundleObjectKey } from "../cloud/bundle";
import { cloudInstallApp } from "../cloud/cloudinit";
import { DNS_OUTBOUND, forTier, scenarioFlows, WEB_OUTBOUND, type Tier } from "../cloud/flows";
import { securityGroupRules } from "../cloud/rules";
import { unsupportedOnClouds } from "../cloud/settings";
import * as userData from "../cloud/userData";
import type {
  AppTierSpec,
  DatabaseSpec,
  FirewallSpec,
  LoadBalancerSpec,
  ManagementSpec,
  Platform,
  RealizeOptions,
  Realized,
  RealizedAppTier,
  RealizedDatabase,
  RealizedLoadBalancer,
  RealizedManagement,
  RealizedStorage,
  StorageSpec,
} from "../platform";
import { objectStoreUrl, policyRoutingStep, swiftFetchCommand, type PortRoute } from "./delivery";
import { createOpenStackHost, createPorts, type OpenStackHostArgs, type ServerImage } from "./host";
import { OpenStackNetwork, subnetLayout, type CloudLan } from "./network";
import { createRules, octaviaPeers } from "./security";
import { loadOpenStackSettings, type OpenStackSettings } from "./settings";

export const ROLE_TIER: Readonly<Partial<Record<Role, Tier>>> = { balancer: "lb", app: "app", db: "db", nas: "nas", management: "mgmt" };

/**
 * App servers reach the database and the bricks from their port on the back LAN (LAN4), with an
 * address DHCP gives: the database and Gluster admit that LAN, not one address per server.
 */
export const APP_CLIENTS_CIDR = LANS.lan4.cidr;

/** Octavia's pool algorithm for the component's choice. */
export function octaviaMethod(algorithm: LoadBalancerSpec["algorithm"]): "ROUND_ROBIN" | "LEAST_CONNECTIONS" {
  return algorithm === "roundrobin" ? "ROUND_ROBIN" : "LEAST_CONNECTIONS";
}

export function openstackSettingsProblem(settings: Settings): string | undefined {
  if (settings.dbStandby) return "crm:dbStandby: the standby database is not available on openstack yet";
  return unsupportedOnClouds(settings, "openstack");
}

/** Each port of a host answers through its own subnet's gateway (pure). */
export function portRoutes(host: HostPlan): PortRoute[] {
  return host.nics.map((nic) => {
    if (nic.lan === "lan1") throw new Error(`host ${host.name}: LAN1 is the external network on openstack`);
    return { address: nic.address, cidr: LANS[nic.lan].cidr, gateway: subnetLayout(nic.lan).gatewayIp };
  });
}

export class OpenStackPlatform implements Platform {
  public readonly target = "openstack";
  private readonly os: OpenStackSettings;
  private readonly provider: openstack.Provider;
  private readonly network: OpenStackNetwork;
  private readonly image: ServerImage;
  private readonly tiers: Tier[];

  constructor(
    settings: Settings,
    /** The plan index.ts derived: names, roles and fixed addresses come from it. */
    private readonly hosts: readonly HostPlan[],
  ) {
    this.os = loadOpenStackSettings();
    const problem = openstackSettingsProblem(settings);
    if (problem) throw new SettingsError(problem);
    this.provider = new openstack.Provider("openstack", { cloud: this.os.osCloud, region: this.os.osRegion });
    this.tiers = ["lb", "app", "db", "nas", ...(settings.management ? (["mgmt"] as const) : [])];
    this.network = new OpenStackNetwork(
      "net",
      { externalNetwork: this.os.osExternalNetwork, tiers: this.tiers },
      { provider: this.provider },
    );
    this.image = {
      imageName: this.os.osImage,
      flavorName: this.os.osFlavor,
      keyPair: this.os.osKeyPair,
      volumeSizeGiB: this.os.osVolumeSize,
    };
  }

  private opts(opts: RealizeOptions) {
    return { provider: this.provider, parent: opts.parent };
  }

  private group(host: HostPlan): openstack.networking.SecGroup {
    const tier = ROLE_TIER[host.role];
    if (!tier) throw new Error(`the openstack target has no tier for role ${host.role}`);
    return forTier(this.network.groups, tier);
  }

  /** A server on ports at the plan's addresses (replaced delete-before-create, see host.ts). */
  private fixedServer(
    name: string,
    host: HostPlan,
    args: Pick<OpenStackHostArgs, "cloudInit" | "secret" | "keeps" | "onUserDataChange" | "serverGroup">,
    opts: RealizeOptions,
  ): { ports: openstack.networking.Port[]; resources: pulumi.Resource[] } {
    const o = this.opts(opts);
    const ports = createPorts(name, this.network, host, this.group(host).id, o);
    const { resources } = createOpenStackHost(
      name,
      this.network,
      this.image,
      { host, nics: { ports }, ...args },
      { ...o, dependsOn: opts.dependsOn },
    );
    return { ports, resources: [...ports, ...resources] };
  }

  /** A floating IP from the external network on a port (the entry points' public addresses). */
  private floatingIp(name: string, portId: pulumi.Input<string>, opts: RealizeOptions): openstack.networking.FloatingIp {
    return new openstack.networking.FloatingIp(
      name,
      { pool: this.os.osExternalNetwork, portId },
      // Neutron associates a floating IP only with a port whose subnet is on the router.
      { ...this.opts(opts), dependsOn: [...this.network.routerInterfaces] },
    );
  }

  firewall(name: string, spec: FirewallSpec, opts: RealizeOptions): Realized {
    const management = hostsWithRole(this.hosts, "management")[0];
    const flows = scenarioFlows(spec.policy, {
      appPort: APP_PORT,
      managementAddress: management?.nics[0].address,
      hasManagement: management !== undefined,
    });
    const outbound = {
      tiers: ["app", "db", "nas", "mgmt", ...(this.os.osOctavia ? [] : (["lb"] as const))] as const,
      allowed: [...WEB_OUTBOUND, ...DNS_OUTBOUND],
    };
    const derived = securityGroupRules(flows, this.tiers, outbound);
    const rules = this.os.osOctavia ? octaviaPeers(derived, LANS.lan3.cidr) : derived;
    return { resources: createRules(name, this.network.groups, rules, this.opts(opts)) };
  }

  database(name: string, spec: DatabaseSpec, opts: RealizeOptions): RealizedDatabase {
    const listen = addressOn(spec.host, "lan4");
    const cloudInit = userData.dbCloudInit(spec, listen, APP_CLIENTS_CIDR, []);
    const server = this.fixedServer(
      `${name}-${spec.host.name}`,
      spec.host,
      { cloudInit, secret: true, keeps: userData.DB_KEEPS, onUserDataChange: "ignore" },
      opts,
    );
    return { resources: server.resources, address: pulumi.output(listen) };
  }

  storage(name: string, spec: StorageSpec, opts: RealizeOptions): RealizedStorage {
    const servers = spec.hosts.map((h) => addressOn(h, "lan4"));
    const cloudInits = userData.nasCloudInits(spec, servers, APP_CLIENTS_CIDR, []);
    // Replica 3 survives one lost brick, not a lost hypervisor holding two: spread them where the cloud can.
    const serverGroup = new openstack.compute.ServerGroup(`${name}-spread`, { policies: ["soft-anti-affinity"] }, this.opts(opts));
    const resources = spec.hosts.flatMap(
      (h, i) =>
        this.fixedServer(
          `${name}-${h.name}`,
          h,
          { cloudInit: cloudInits[i], secret: false, keeps: userData.brickKeeps(spec.brick), onUserDataChange: "ignore", serverGroup },
          opts,
        ).resources,
    );
    return { resources: [serverGroup, ...resources], addresses: pulumi.output(servers) };
  }

  appTier(name: string, spec: AppTierSpec, opts: RealizeOptions): RealizedAppTier {
    const o = this.opts(opts);
    // Read by anyone who has the URL (no listing): the bundle holds code, never a secret; the object's name is its digest.
    const container = new openstack.objectstorage.Container(`${name}-bundle`, { containerRead: ".r:*" }, o);
    const bundle = new AppBundle(`${name}-bundle`, { parent: opts.parent });
    const key = bundle.sha256.apply(bundleObjectKey);
    const object = new openstack.objectstorage.ContainerObject(
      `${name}-bundle`,
      { containerName: container.name, name: key, source: bundle.archive, contentType: "application/gzip" },
      o,
    );
    const catalog = openstack.identity.getAuthScopeOutput({ name: "crm", region: this.os.osRegion }, o).serviceCatalogs;
    const installApp = pulumi
      .all([catalog, container.name, key, bundle.sha256])
      .apply(([entries, c, k, digest]) =>
        cloudInstallApp({ fetch: swiftFetchCommand(`${objectStoreUrl(entries, this.os.osRegion)}/${c}/${k}`), digest }),
      );
    const front: readonly CloudLan[] = ["lan3", "lan4"];
    const servers = spec.servers.map((s) =>
      createOpenStackHost(
        `${name}-${s.name}`,
        this.network,
        this.image,
        {
          host: s,
          nics: { networks: front, securityGroup: this.group(s) },
          cloudInit: userData.appCloudInit(s, spec, installApp, []),
          secret: true,
          onUserDataChange: "replace",
        },
        { ...o, dependsOn: [...(opts.dependsOn ?? []), object] },
      ),
    );
    return {
      resources: [object, ...servers.flatMap((s) => s.resources)],
      // The front LAN's port, the first network: where the load balancer reaches the app.
      members: spec.servers.map((s, i) => ({ name: s.name, address: servers[i].server.networks.apply((n) => n[0].fixedIpV4) })),
    };
  }

  loadBalancer(name: string, spec: LoadBalancerSpec, opts: RealizeOptions): RealizedLoadBalancer {
    return this.os.osOctavia ? this.octavia(name, spec, opts) : this.haproxy(name, spec, opts);
  }

  /** Octavia: the VIP at the plan's service address on the DMZ, members on the front LAN. */
  private octavia(name: string, spec: LoadBalancerSpec, opts: RealizeOptions): RealizedLoadBalancer {
    const o = this.opts(opts);
    const subnets = this.network.subnets;
    const lb = new openstack.loadbalancer.LoadBalancer(
      name,
      { vipSubnetId: subnets.lan2.id, vipAddress: SERVICE_ADDRESS, securityGroupIds: [forTier(this.network.groups, "lb").id] },
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
    const ip = this.floatingIp(`${name}-ip`, lb.vipPortId, opts);
    return { resources: [lb, listener, pool, monitor, ...members, ip], url: pulumi.interpolate`http://${ip.address}/` };
  }

  /**
   * An entry host of the plan (the HAProxy server, the management host): fixed ports, policy
   * routing for its two ports, a floating IP on the first.
   */
  private entryServer(
    name: string,
    host: HostPlan,
    cloudInit: (steps: readonly string[]) => pulumi.Input<userData.CloudInitInput>,
    opts: RealizeOptions,
  ): { resources: pulumi.Resource[]; ip: openstack.networking.FloatingIp } {
    const steps = [policyRoutingStep(portRoutes(host))];
    const server = this.fixedServer(
      `${name}-${host.name}`,
      host,
      { cloudInit: cloudInit(steps), secret: false, onUserDataChange: "replace" },
      opts,
    );
    const ip = this.floatingIp(`${name}-ip`, server.ports[0].id, opts);
    return { resources: [...server.resources, ip], ip };
  }

  /** Where Octavia is absent: the lb host of the plan, running the vnx balancer's role script. */
  private haproxy(name: string, spec: LoadBalancerSpec, opts: RealizeOptions): RealizedLoadBalancer {
    const stats = `${addressOn(spec.host, "lan3")}:${STATS_PORT}`;
    const entry = this.entryServer(
      name,
      spec.host,
      (steps) => userData.balancerCloudInit(spec, `${SERVICE_ADDRESS}:80`, stats, steps),
      opts,
    );
    return { resources: entry.resources, url: pulumi.interpolate`http://${entry.ip.address}/` };
  }

  /** The management host: a server with a floating IP, SSH from crm:adminCidr with crm:managementKeys. */
  management(name: string, spec: ManagementSpec, opts: RealizeOptions): RealizedManagement {
    const managed = spec.managed
      .filter((h) => h.role === "db" || h.role === "nas")
      .map((h) => ({ name: h.name, address: addressOn(h, "lan4") }));
    const entry = this.entryServer(
      name,
      spec.host,
      (steps) => userData.managementCloudInit(spec, spec.host.nics[0].address, managed, steps),
      opts,
    );
    return { resources: entry.resources, address: entry.ip.address };
  }
}
