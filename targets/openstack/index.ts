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
import {
  addressOn,
  APP_PORT,
  hostsWithRole,
  HTTP_PORT,
  HTTPS_PORT,
  LANS,
  SERVICE_ADDRESS,
  type HostPlan,
  type Role,
} from "../../topology/plan";
import { SettingsError, type Settings } from "../../topology/settings";
import { AppBundle, bundleObjectKey } from "../cloud/bundle";
import { cloudInstallApp } from "../cloud/cloudinit";
import { DNS_OUTBOUND, forTier, scenarioFlows, WEB_OUTBOUND, type Tier } from "../cloud/flows";
import { securityGroupRules } from "../cloud/rules";
import { unsupportedOnClouds } from "../cloud/settings";
import { hasIntermediates, ownCertificateDomainProblem } from "../cloud/tls";
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
  TlsSpec,
} from "../platform";
import { objectStoreUrl, policyRoutingStep, swiftFetchCommand, type PortRoute } from "./delivery";
import { createOpenStackHost, createPorts, type OpenStackHostArgs, type ServerImage } from "./host";
import { OpenStackNetwork, subnetLayout, type CloudLan } from "./network";
import { createRules, octaviaPeers } from "./security";
import { loadOpenStackSettings, type OpenStackSettings } from "./settings";
import { createHttpsRedirect, createTlsContainer, serviceSubject } from "./tls";

export const ROLE_TIER: Readonly<Partial<Record<Role, Tier>>> = { balancer: "lb", app: "app", db: "db", nas: "nas", management: "mgmt" };

/**
 * App servers reach the database and the bricks from their port on the back LAN (LAN4), with an
 * address DHCP gives: the database and Gluster admit that LAN, not one address per server.
 */
export const APP_CLIENTS_CIDR = LANS.lan4.cidr;

/** Listeners' client idle timeout: 60 s, below the app's keep-alive (65 s), as with HAProxy on vnx. */
const CLIENT_IDLE_MS = 60_000;

/** Octavia's pool algorithm for the component's choice. */
export function octaviaMethod(algorithm: LoadBalancerSpec["algorithm"]): "ROUND_ROBIN" | "LEAST_CONNECTIONS" {
  return algorithm === "roundrobin" ? "ROUND_ROBIN" : "LEAST_CONNECTIONS";
}

export function openstackSettingsProblem(settings: Settings, os: Pick<OpenStackSettings, "domain">): string | undefined {
  if (settings.dbStandby) return "crm:dbStandby: the standby database is not available on openstack yet";
  return ownCertificateDomainProblem(settings.tlsCertificate, os.domain) ?? unsupportedOnClouds(settings, "openstack");
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
  /** The user's certificate comes with intermediates (decides the Barbican container's secrets before the certificate is known). */
  private readonly ownHasIntermediates: boolean;
  private readonly tiers: Tier[];

  constructor(
    settings: Settings,
    /** The plan index.ts derived: names, roles and fixed addresses come from it. */
    private readonly hosts: readonly HostPlan[],
  ) {
    this.os = loadOpenStackSettings();
    const problem = openstackSettingsProblem(settings, this.os);
    if (problem) throw new SettingsError(problem);
    this.provider = new openstack.Provider("openstack", { cloud: this.os.osCloud, region: this.os.osRegion });
    this.tiers = ["lb", "app", "db", "nas", ...(settings.management ? (["mgmt"] as const) : [])];
    this.network = new OpenStackNetwork(
      "net",
      { externalNetwork: this.os.osExternalNetwork, tiers: this.tiers },
      { provider: this.provider },
    );
    this.ownHasIntermediates = settings.tlsCertificate !== undefined && hasIntermediates(settings.tlsCertificate);
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
    /** Its ports, when the caller needed them first (an entry server's floating IP). @default made here */
    made?: openstack.networking.Port[],
  ): { ports: openstack.networking.Port[]; resources: pulumi.Resource[] } {
    const o = this.opts(opts);
    const ports = made ?? createPorts(name, this.network, host, this.group(host).id, o);
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
    const ip = this.floatingIp(`${name}-ip`, lb.vipPortId, opts);
    const http = new openstack.loadbalancer.Listener(
      `${name}-http`,
      { loadbalancerId: lb.id, protocol: "HTTP", protocolPort: HTTP_PORT, timeoutClientData: CLIENT_IDLE_MS },
      o,
    );
    const https = spec.tls ? this.octaviaHttps(name, spec.tls, lb, ip, o) : undefined;
    const pool = new openstack.loadbalancer.Pool(
      `${name}-app`,
      // With HTTPS the app is reached through 443 only; port 80 just redirects.
      { listenerId: (https?.listener ?? http).id, protocol: "HTTP", lbMethod: octaviaMethod(spec.algorithm) },
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
    const url = this.serviceUrl(https !== undefined, ip);
    const redirect = https ? createHttpsRedirect(`${name}-http`, http.id, url, o) : [];
    return { resources: [lb, http, ...(https?.resources ?? []), ...redirect, pool, monitor, ...members, ip], url };
  }

  /** TERMINATED_HTTPS on 443 with the service certificate from Barbican; the app sees HTTP with X-Forwarded-Proto. */
  private octaviaHttps(
    name: string,
    tls: TlsSpec,
    lb: openstack.loadbalancer.LoadBalancer,
    ip: openstack.networking.FloatingIp,
    o: pulumi.CustomResourceOptions,
  ): { listener: openstack.loadbalancer.Listener; resources: pulumi.Resource[] } {
    // Only the parent: the certificate is not an openstack resource, so not for its provider.
    const certificate = tls.issue(`${name}-cert`, serviceSubject(ip.address, this.os.domain, tls.own !== undefined), { parent: o.parent });
    const container = createTlsContainer(name, certificate, this.ownHasIntermediates, o);
    const listener = new openstack.loadbalancer.Listener(
      `${name}-https`,
      {
        loadbalancerId: lb.id,
        protocol: "TERMINATED_HTTPS",
        protocolPort: HTTPS_PORT,
        defaultTlsContainerRef: container.ref,
        timeoutClientData: CLIENT_IDLE_MS,
        // The app trusts these from private addresses (Express's trust proxy): client address for its logs and throttling, and the scheme for Secure cookies.
        insertHeaders: { "X-Forwarded-For": "true", "X-Forwarded-Proto": "true" },
      },
      o,
    );
    return { listener, resources: [...container.resources, listener] };
  }

  /**
   * An entry host of the plan (the HAProxy server, the management host): fixed ports, policy
   * routing for its two ports, a floating IP on the first, made before the server so that its
   * user data may name the address (the service certificate does). User data that holds a key is
   * `secret`.
   */
  private entryServer(
    name: string,
    host: HostPlan,
    cloudInit: (steps: readonly string[], ip: openstack.networking.FloatingIp) => pulumi.Input<userData.CloudInitInput>,
    secret: boolean,
    opts: RealizeOptions,
  ): { resources: pulumi.Resource[]; ip: openstack.networking.FloatingIp } {
    const steps = [policyRoutingStep(portRoutes(host))];
    const ports = createPorts(`${name}-${host.name}`, this.network, host, this.group(host).id, this.opts(opts));
    const ip = this.floatingIp(`${name}-ip`, ports[0].id, opts);
    const server = this.fixedServer(
      `${name}-${host.name}`,
      host,
      { cloudInit: cloudInit(steps, ip), secret, onUserDataChange: "replace" },
      opts,
      ports,
    );
    return { resources: [...server.resources, ip], ip };
  }

  /**
   * Where Octavia is absent: the lb host of the plan, running the vnx balancer's role script; with
   * TLS, HAProxy terminates it with the service certificate (the floating IP's, or the user's).
   */
  private haproxy(name: string, spec: LoadBalancerSpec, opts: RealizeOptions): RealizedLoadBalancer {
    const stats = `${addressOn(spec.host, "lan3")}:${STATS_PORT}`;
    const tls = spec.tls;
    const entry = this.entryServer(
      name,
      spec.host,
      (steps, ip) =>
        userData.balancerCloudInit(
          spec,
          `${SERVICE_ADDRESS}:${HTTP_PORT}`,
          stats,
          steps,
          tls && {
            bind: `${SERVICE_ADDRESS}:${HTTPS_PORT}`,
            certificate: tls.issue(`${name}-cert`, serviceSubject(ip.address, this.os.domain, tls.own !== undefined), {
              parent: opts.parent,
            }),
          },
        ),
      tls !== undefined,
      opts,
    );
    return { resources: entry.resources, url: this.serviceUrl(tls !== undefined, entry.ip) };
  }

  /** The service's URL: crm:domain when set (its DNS record is the user's), else the floating IP. */
  private serviceUrl(https: boolean, ip: openstack.networking.FloatingIp): pulumi.Output<string> {
    const host = this.os.domain ? pulumi.output(this.os.domain) : ip.address;
    return pulumi.interpolate`${https ? "https" : "http"}://${host}/`;
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
      false,
      opts,
    );
    return { resources: entry.resources, address: entry.ip.address };
  }
}
