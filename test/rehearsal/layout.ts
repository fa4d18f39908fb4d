/**
 * The rehearsal's picture of a cloud stack, read from what the program registered under mocks
 * (test/clouds/runner.ts): its subnets become bridges, its instances containers with their user
 * data, its security-group rules and network ACLs nftables rulesets (nft.ts), its load balancer's
 * health check an HAProxy stand-in (standIns.ts). Pure: tested without containers.
 *
 * What the rehearsal adds, because a cloud would: a router at each subnet's gateway address (the
 * VPC router, the Neutron router), the addresses a cloud hands out (app servers; aws app servers
 * at their subnet's base + 10 + n), an "internet" bridge with a client, the object store's
 * stand-in and (aws) the instance metadata service, and a probe host without a security group in
 * the load balancer's subnet.
 */
import type { Recorded, RunResult } from "../clouds/model";
import type { NaclEntry } from "../../targets/aws/security";
import { BOOTSTRAP_PATH, parseCloudInit } from "../../targets/cloud/cloudinit";
import type { Tier } from "../../targets/cloud/flows";
import type { SgRule } from "../../targets/cloud/rules";

export type Cloud = "aws" | "openstack";

/** The rehearsal's internet: TEST-NET-2, kept on this machine by an unreachable route for the run. */
export const INTERNET = { cidr: "198.51.100.0/24", router: "198.51.100.1", client: "198.51.100.10", store: "198.51.100.80" } as const;
/** Where EC2's instance metadata service answers (on the store's stand-in, routed by the router). */
export const IMDS_ADDRESS = "169.254.169.254";
/** Ranges the rehearsal puts on its bridges besides the clouds' 10.1.0.0/16 (which test.sh guards). */
export const GUARDED_RANGES: readonly string[] = [INTERNET.cidr];
/** The probe port: a listener there shows that a connection was dropped by a rule, not refused for want of a server. */
export const PROBE_PORT = 9099;

export interface Nic {
  readonly bridge: string;
  readonly address: string;
  readonly prefix: number;
  readonly gateway?: string;
}

export type Kind = "cloud" | "balancer" | "router" | "client" | "store" | "probe";

export interface RehearsalHost {
  /** Container name, rh-<cloud>-<host>. */
  readonly container: string;
  /** The plan's host name (s1, nas1, bbdd) or the stand-in's (lb, router, world, store, dmz). */
  readonly host: string;
  readonly kind: Kind;
  readonly role?: string;
  /** Its security group's tier; none: unfiltered (router, internet, probe). */
  readonly tier?: Tier;
  readonly nics: readonly Nic[];
  readonly userData?: string;
  /** The data volume's device path, as the user data waits for it. */
  readonly disk?: string;
}

export interface Subnet {
  readonly name: string;
  readonly bridge: string;
  readonly cidr: string;
  readonly gateway: string;
}

export interface Nacl {
  readonly bridges: readonly string[];
  readonly ingress: readonly NaclEntry[];
  readonly egress: readonly NaclEntry[];
}

/** A load balancer's health check and pool, whichever cloud's resources said it. */
export interface HealthCheck {
  readonly path: string;
  readonly intervalSeconds: number;
  readonly timeoutSeconds: number;
  readonly rise: number;
  readonly fall: number;
  /** One HTTP status. */
  readonly status: number;
  readonly memberPort: number;
  readonly algorithm: "roundrobin" | "leastconn";
  readonly clientTimeoutSeconds: number;
}

export interface Layout {
  readonly cloud: Cloud;
  readonly subnets: readonly Subnet[];
  readonly hosts: readonly RehearsalHost[];
  readonly rules: readonly SgRule[];
  readonly nacls: readonly Nacl[];
  readonly health: HealthCheck;
  /** Where clients reach the load balancer's stand-in. */
  readonly service: string;
}

const PREFIX: Readonly<Record<Cloud, string>> = { aws: "a", openstack: "o" };

function ofType(result: RunResult, type: string): Recorded[] {
  return result.resources.filter((r) => r.type === type);
}

function one(result: RunResult, type: string): Recorded {
  const found = ofType(result, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0];
}

function str(r: Recorded, key: string): string {
  const v = r.inputs[key];
  if (typeof v !== "string") throw new Error(`${r.type} ${r.name}: input ${key} is not a string`);
  return v;
}

function num(o: Record<string, unknown>, key: string, what: string): number {
  const v = o[key];
  if (typeof v !== "number") throw new Error(`${what}: ${key} is not a number`);
  return v;
}

/** The mocks' ids are `<name>-id`: the resource an id names. */
function byId(resources: readonly Recorded[], id: string): Recorded {
  const found = resources.find((r) => `${r.name}-id` === id || r.state.name === id);
  if (!found) throw new Error(`no resource with id or name ${id}`);
  return found;
}

/** 10.1.3.0/26 + n → 10.1.3.n (n within the /24's last octet). */
export function hostAddress(cidr: string, n: number): string {
  const [base] = cidr.split("/");
  const octets = base.split(".").map(Number);
  return [...octets.slice(0, 3), octets[3] + n].join(".");
}

function prefixOf(cidr: string): number {
  return Number(cidr.split("/")[1]);
}

function ordinal(host: string): number {
  const m = /(\d+)$/.exec(host);
  return m ? Number(m[1]) : 0;
}

function container(cloud: Cloud, host: string): string {
  return `rh-${PREFIX[cloud]}-${host}`;
}

/** The device the user data's bootstrap waits for (cloudinit.ts mountVolumeStep). */
export function dataDevice(userData: string): string | undefined {
  const bootstrap = parseCloudInit(userData).write_files.find((f) => f.path === BOOTSTRAP_PATH);
  return bootstrap && /crm_retry \d+ "data volume (\S+)"/.exec(bootstrap.content)?.[1];
}

function nicIn(subnet: Subnet, address: string, withGateway: boolean): Nic {
  return { bridge: subnet.bridge, address, prefix: prefixOf(subnet.cidr), gateway: withGateway ? subnet.gateway : undefined };
}

/** What every cloud's layout has besides its own hosts: the router, the internet's client and store, the probe. */
function standIns(cloud: Cloud, subnets: readonly Subnet[], probeSubnet: Subnet): RehearsalHost[] {
  const internet: Subnet = { name: "internet", bridge: `rh-${PREFIX[cloud]}-world`, cidr: INTERNET.cidr, gateway: INTERNET.router };
  return [
    {
      container: container(cloud, "router"),
      host: "router",
      kind: "router",
      nics: [...subnets.map((s) => nicIn(s, s.gateway, false)), nicIn(internet, INTERNET.router, false)],
    },
    { container: container(cloud, "world"), host: "world", kind: "client", nics: [nicIn(internet, INTERNET.client, true)] },
    { container: container(cloud, "store"), host: "store", kind: "store", nics: [nicIn(internet, INTERNET.store, true)] },
    { container: container(cloud, "dmz"), host: "dmz", kind: "probe", nics: [nicIn(probeSubnet, hostAddress(probeSubnet.cidr, 20), true)] },
  ];
}

export function internetBridge(cloud: Cloud): string {
  return `rh-${PREFIX[cloud]}-world`;
}

// ---- aws -------------------------------------------------------------------------------------

function awsGroupTier(result: RunResult, id: string): Tier {
  const tier = (byId(result.resources, id).inputs.tags as Record<string, string> | undefined)?.tier;
  if (!tier) throw new Error(`security group ${id} has no tier tag`);
  return tier as Tier;
}

function awsRules(result: RunResult): SgRule[] {
  const types = {
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "ingress",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "egress",
  } as const;
  return Object.entries(types).flatMap(([type, direction]) =>
    ofType(result, type).map((r) => ({
      direction,
      tier: awsGroupTier(result, str(r, "securityGroupId")),
      ipProtocol: str(r, "ipProtocol") as SgRule["ipProtocol"],
      fromPort: num(r.inputs, "fromPort", r.name),
      toPort: num(r.inputs, "toPort", r.name),
      peer:
        typeof r.inputs.referencedSecurityGroupId === "string"
          ? { tier: awsGroupTier(result, r.inputs.referencedSecurityGroupId) }
          : { cidr: str(r, "cidrIpv4") },
      description: str(r, "description"),
    })),
  );
}

function awsHealth(result: RunResult): HealthCheck {
  const group = one(result, "aws:lb/targetGroup:TargetGroup");
  const check = group.inputs.healthCheck as Record<string, unknown>;
  const what = `${group.name} healthCheck`;
  return {
    path: String(check.path),
    intervalSeconds: num(check, "interval", what),
    timeoutSeconds: num(check, "timeout", what),
    rise: num(check, "healthyThreshold", what),
    fall: num(check, "unhealthyThreshold", what),
    status: Number(check.matcher),
    memberPort: num(group.inputs, "port", group.name),
    algorithm: group.inputs.loadBalancingAlgorithmType === "least_outstanding_requests" ? "leastconn" : "roundrobin",
    clientTimeoutSeconds: num(one(result, "aws:lb/loadBalancer:LoadBalancer").inputs, "idleTimeout", "ALB"),
  };
}

export function awsLayout(result: RunResult): Layout {
  const cloud = "aws";
  const subnetRecords = ofType(result, "aws:ec2/subnet:Subnet");
  const subnets: Subnet[] = subnetRecords.map((s) => {
    const cidr = str(s, "cidrBlock");
    // The VPC router answers at each subnet's base + 1.
    return { name: s.name, bridge: `rh-a-${s.name.replace(/^net-/, "").replace("public", "pub")}`, cidr, gateway: hostAddress(cidr, 1) };
  });
  const subnetOf = (id: string) => {
    const s = subnets.find((x) => `${x.name}-id` === id);
    if (!s) throw new Error(`no subnet ${id}`);
    return s;
  };
  const attachments = ofType(result, "aws:ec2/volumeAttachment:VolumeAttachment");
  const hosts: RehearsalHost[] = ofType(result, "aws:ec2/instance:Instance").map((i) => {
    const host = i.name.split("-").slice(1).join("-");
    const subnet = subnetOf(str(i, "subnetId"));
    const address = typeof i.inputs.privateIp === "string" ? i.inputs.privateIp : hostAddress(subnet.cidr, 10 + ordinal(host));
    const userData = str(i, "userData");
    const hasVolume = attachments.some((a) => a.inputs.instanceId === `${i.name}-id`);
    return {
      container: container(cloud, host),
      host,
      kind: "cloud",
      role: (i.inputs.tags as Record<string, string>).role,
      tier: awsGroupTier(result, (i.inputs.vpcSecurityGroupIds as string[])[0]),
      nics: [nicIn(subnet, address, true)],
      userData,
      disk: hasVolume ? dataDevice(userData) : undefined,
    };
  });
  const alb = one(result, "aws:lb/loadBalancer:LoadBalancer");
  const albSubnet = subnetOf((alb.inputs.subnets as string[])[0]);
  const service = hostAddress(albSubnet.cidr, 10);
  const balancer: RehearsalHost = {
    container: container(cloud, "lb"),
    host: "lb",
    kind: "balancer",
    tier: awsGroupTier(result, (alb.inputs.securityGroups as string[])[0]),
    nics: [nicIn(albSubnet, service, true)],
  };
  const nacls: Nacl[] = ofType(result, "aws:ec2/networkAcl:NetworkAcl").map((n) => ({
    bridges: (n.inputs.subnetIds as string[]).map((id) => subnetOf(id).bridge),
    ingress: n.inputs.ingress as NaclEntry[],
    egress: n.inputs.egress as NaclEntry[],
  }));
  return {
    cloud,
    subnets,
    hosts: [...hosts, balancer, ...standIns(cloud, subnets, albSubnet)],
    rules: awsRules(result),
    nacls,
    health: awsHealth(result),
    service,
  };
}

// ---- openstack -------------------------------------------------------------------------------

/** A group's tier from its resource name (net-<tier>), by id or by (mocked physical) name. */
function osGroupTier(result: RunResult, idOrName: string): Tier {
  const group = byId(result.resources, idOrName);
  if (group.type !== "openstack:networking/secGroup:SecGroup") throw new Error(`${idOrName} is not a security group`);
  return group.name.replace(/^.*-/, "") as Tier;
}

function osRules(result: RunResult): SgRule[] {
  return ofType(result, "openstack:networking/secGroupRule:SecGroupRule").map((r) => {
    const icmp = str(r, "protocol") === "icmp";
    const from = num(r.inputs, "portRangeMin", r.name);
    return {
      direction: str(r, "direction") as SgRule["direction"],
      tier: osGroupTier(result, str(r, "securityGroupId")),
      ipProtocol: str(r, "protocol") as SgRule["ipProtocol"],
      fromPort: from,
      // Neutron: an ICMP rule's port_range_min is the type, no max is any code (AWS's -1).
      toPort: icmp ? -1 : num(r.inputs, "portRangeMax", r.name),
      peer:
        typeof r.inputs.remoteGroupId === "string"
          ? { tier: osGroupTier(result, r.inputs.remoteGroupId) }
          : { cidr: str(r, "remoteIpPrefix") },
      description: str(r, "description"),
    };
  });
}

function osHealth(result: RunResult): HealthCheck {
  const monitor = one(result, "openstack:loadbalancer/monitor:Monitor");
  const pool = one(result, "openstack:loadbalancer/pool:Pool");
  const member = ofType(result, "openstack:loadbalancer/member:Member")[0];
  const what = monitor.name;
  if (monitor.inputs.type !== "HTTP" || monitor.inputs.httpMethod !== "GET") throw new Error(`${what}: the stand-in checks HTTP GET only`);
  return {
    path: str(monitor, "urlPath"),
    intervalSeconds: num(monitor.inputs, "delay", what),
    timeoutSeconds: num(monitor.inputs, "timeout", what),
    rise: num(monitor.inputs, "maxRetries", what),
    fall: num(monitor.inputs, "maxRetriesDown", what),
    status: Number(monitor.inputs.expectedCodes),
    memberPort: num(member.inputs, "protocolPort", member.name),
    algorithm: pool.inputs.lbMethod === "LEAST_CONNECTIONS" ? "leastconn" : "roundrobin",
    // The pool's listener (with HTTPS, 443's; 80 only redirects).
    clientTimeoutSeconds: num(byId(result.resources, str(pool, "listenerId")).inputs, "timeoutClientData", "listener") / 1000,
  };
}

export function openstackLayout(result: RunResult): Layout {
  const cloud = "openstack";
  const subnets: Subnet[] = ofType(result, "openstack:networking/subnet:Subnet").map((s) => ({
    name: s.name,
    bridge: `rh-o-${s.name.replace(/^net-/, "")}`,
    cidr: str(s, "cidr"),
    gateway: str(s, "gatewayIp"),
  }));
  const subnetOfNetwork = (networkId: string) => {
    const s = ofType(result, "openstack:networking/subnet:Subnet").find((x) => x.inputs.networkId === networkId);
    if (!s) throw new Error(`no subnet on network ${networkId}`);
    return subnets.find((x) => x.name === s.name)!;
  };
  const hosts: RehearsalHost[] = ofType(result, "openstack:compute/instance:Instance").map((i) => {
    const host = i.name.split("-").slice(1).join("-");
    const networks = i.inputs.networks as { port?: string; uuid?: string }[];
    let nics: Nic[];
    let tier: Tier;
    if (networks[0].port !== undefined) {
      // Fixed ports: their address and group are the port's.
      const ports = networks.map((n) => byId(result.resources, n.port!));
      nics = ports.map((p, k) =>
        nicIn(subnetOfNetwork(str(p, "networkId")), (p.inputs.fixedIps as { ipAddress: string }[])[0].ipAddress, k === 0),
      );
      tier = osGroupTier(result, (ports[0].inputs.securityGroupIds as string[])[0]);
    } else {
      // Nova's ports: the addresses the (mocked) cloud gave; the default route through the first port only.
      const given = i.state.networks as { uuid: string; fixedIpV4: string }[];
      nics = given.map((n, k) => nicIn(subnetOfNetwork(n.uuid), n.fixedIpV4, k === 0));
      tier = osGroupTier(result, (i.inputs.securityGroups as string[])[0]);
    }
    const userData = str(i, "userData");
    const hasVolume = ofType(result, "openstack:compute/volumeAttach:VolumeAttach").some((a) => a.inputs.instanceId === `${i.name}-id`);
    return {
      container: container(cloud, host),
      host,
      kind: "cloud",
      role: (i.inputs.metadata as Record<string, string>).role,
      tier,
      nics,
      userData,
      disk: hasVolume ? dataDevice(userData) : undefined,
    };
  });
  const lb = one(result, "openstack:loadbalancer/loadBalancer:LoadBalancer");
  const vipSubnet = subnets.find((s) => `${s.name}-id` === str(lb, "vipSubnetId"))!;
  const memberSubnet = subnets.find((s) => `${s.name}-id` === str(ofType(result, "openstack:loadbalancer/member:Member")[0], "subnetId"))!;
  const service = str(lb, "vipAddress");
  const balancer: RehearsalHost = {
    container: container(cloud, "lb"),
    host: "lb",
    kind: "balancer",
    tier: osGroupTier(result, (lb.inputs.securityGroupIds as string[])[0]),
    // The amphora: the VIP's port, and a port on the members' subnet (the end of its DHCP pool).
    nics: [nicIn(vipSubnet, service, true), nicIn(memberSubnet, hostAddress(memberSubnet.cidr, 249), false)],
  };
  return {
    cloud,
    subnets,
    hosts: [...hosts, balancer, ...standIns(cloud, subnets, vipSubnet)],
    rules: osRules(result),
    nacls: [],
    health: osHealth(result),
    service,
  };
}

export function layoutOf(cloud: Cloud, result: RunResult): Layout {
  return cloud === "aws" ? awsLayout(result) : openstackLayout(result);
}

/** Addresses of each tier's hosts: what a security group that names a tier admits. */
export function tierMembers(hosts: readonly RehearsalHost[]): Partial<Record<Tier, string[]>> {
  const members: Partial<Record<Tier, string[]>> = {};
  for (const h of hosts) if (h.tier) members[h.tier] = [...(members[h.tier] ?? []), ...h.nics.map((n) => n.address)];
  return members;
}
