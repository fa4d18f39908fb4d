/**
 * The scenario's address plan (the seed's VNX scenario), as pure data.
 *
 * Every target derives its hosts from this one plan: the vnx target uses the addresses as they
 * are; the clouds map each LAN onto subnets of their own and keep the host roles and names.
 */

export const SCENARIO_CIDR = "10.1.0.0/16";

export type Lan = "lan1" | "lan2" | "lan3" | "lan4";

/** LAN1 outside (clients), LAN2 DMZ (fw–lb), LAN3 front (lb–app), LAN4 back (app–data). */
export const LANS: Readonly<Record<Lan, { cidr: string; prefix: string }>> = {
  lan1: { cidr: "10.1.1.0/24", prefix: "10.1.1" },
  lan2: { cidr: "10.1.2.0/24", prefix: "10.1.2" },
  lan3: { cidr: "10.1.3.0/24", prefix: "10.1.3" },
  lan4: { cidr: "10.1.4.0/24", prefix: "10.1.4" },
};

export type Role = "client" | "firewall" | "balancer" | "app" | "nas" | "db" | "monitor" | "management";

export interface Nic {
  readonly lan: Lan;
  readonly address: string;
}

export interface Route {
  readonly to: string;
  readonly via: string;
}

export interface HostPlan {
  readonly name: string;
  readonly role: Role;
  readonly nics: readonly Nic[];
  /** Static routes; the plan gives no host a default route, so nothing leaves the scenario. */
  readonly routes: readonly Route[];
}

export interface ScenarioOptions {
  readonly servers: number;
  readonly monitoring: boolean;
  readonly management: boolean;
  readonly dbStandby: boolean;
  /** Two firewalls and two load balancers sharing the front's addresses by VRRP (crm:frontHa). @default false */
  readonly frontHa?: boolean;
}

/** The machine running the vnx stack sits on LAN1 like a client. */
export const MACHINE_ADDRESS = "10.1.1.2";
export const FIREWALL_OUTSIDE = "10.1.1.1";
/** The firewall's DMZ side: the load balancer's way back to the clients. */
export const FIREWALL_INSIDE = "10.1.2.1";
/** The address clients use: the load balancer's DMZ side, reached through the firewall. */
export const SERVICE_ADDRESS = "10.1.2.2";
/** The load balancer's front side: the app servers' gateway to the rest of the scenario. */
export const BALANCER_FRONT = "10.1.3.1";
/**
 * With crm:frontHa the four addresses above are virtual: each pair moves its own together, by
 * VRRP, to the member that is up (see roles/vrrp.ts). The members keep addresses of their own,
 * by which they are managed, monitored and talk VRRP and conntrackd to each other. The first
 * member of each pair (fw, lb) is the preferred one.
 */
export const FRONT_MEMBERS = {
  fw: { lan1: "10.1.1.3", lan2: "10.1.2.3" },
  fw2: { lan1: "10.1.1.4", lan2: "10.1.2.4" },
  lb: { lan2: "10.1.2.5", lan3: "10.1.3.2" },
  lb2: { lan2: "10.1.2.6", lan3: "10.1.3.3" },
} as const;
/** VRRP router ids (unique per LAN; the database pair uses 30 on LAN4): one instance per shared address. */
export const VRRP_IDS = { fwOutside: 11, fwInside: 12, lbService: 22, lbFront: 23 } as const;
/** conntrackd's synchronization between the firewalls (UDP, on LAN2). */
export const CONNTRACK_SYNC_PORT = 3780;
export const APP_PORT = 3000;
/** The service's ports: HTTP only redirects to HTTPS, which the load balancer terminates (issue 12). */
export const HTTP_PORT = 80;
export const HTTPS_PORT = 443;
/** PostgreSQL's port, on every database host and on each app server's local proxy to the pair's leader. */
export const PG_PORT = 5432;
export const NAS_ADDRESSES = ["10.1.4.21", "10.1.4.22", "10.1.4.23"] as const;
export const DB_ADDRESS = "10.1.4.31";
export const DB_STANDBY_ADDRESS = "10.1.4.32";
const MONITOR_OCTET = 15;
const MANAGEMENT_OCTET = 20;
const FIRST_SERVER_OCTET = 11;

/**
 * Host octets app servers may not take: on LAN3/LAN4 a server uses .11 upwards on both, so it
 * must stop below the storage hosts (.21 on LAN4) and below the optional hosts that are enabled.
 */
function reservedOctets(opts: Pick<ScenarioOptions, "monitoring" | "management">): number[] {
  const firstNas = Number(NAS_ADDRESSES[0].split(".")[3]);
  return [firstNas, ...(opts.monitoring ? [MONITOR_OCTET] : []), ...(opts.management ? [MANAGEMENT_OCTET] : [])];
}

/** The largest app tier the address plan allows. */
export function maxServers(opts: Pick<ScenarioOptions, "monitoring" | "management">): number {
  return Math.min(...reservedOctets(opts)) - FIRST_SERVER_OCTET;
}

export function serverName(index: number): string {
  return `s${index}`;
}

/** An app server, like the monitoring and management hosts, sits on LAN3 and LAN4 with the same host octet. */
function frontBackHost(name: string, role: Role, octet: number): HostPlan {
  return {
    name,
    role,
    nics: [
      { lan: "lan3", address: `${LANS.lan3.prefix}.${octet}` },
      { lan: "lan4", address: `${LANS.lan4.prefix}.${octet}` },
    ],
    routes: [{ to: SCENARIO_CIDR, via: BALANCER_FRONT }],
  };
}

function backHost(name: string, role: Role, address: string): HostPlan {
  return { name, role, nics: [{ lan: "lan4", address }], routes: [] };
}

const SINGLE_FIREWALL = { lan1: FIREWALL_OUTSIDE, lan2: FIREWALL_INSIDE } as const;
const SINGLE_BALANCER = { lan2: SERVICE_ADDRESS, lan3: BALANCER_FRONT } as const;

type FrontRole = "firewall" | "balancer";

/**
 * Where the front hosts route: the firewall reaches the inside LANs through the balancer's service
 * address, the balancer reaches the clients through the firewall's inside one (both virtual with frontHa).
 */
const FRONT_ROUTES: Readonly<Record<FrontRole, readonly Route[]>> = {
  firewall: [
    { to: LANS.lan3.cidr, via: SERVICE_ADDRESS },
    { to: LANS.lan4.cidr, via: SERVICE_ADDRESS },
  ],
  balancer: [{ to: LANS.lan1.cidr, via: FIREWALL_INSIDE }],
};

/** A firewall (outside and DMZ) or a balancer (DMZ and front), its NICs in LAN order. */
function frontHost(name: string, role: FrontRole, at: Readonly<Partial<Record<Lan, string>>>): HostPlan {
  const nics = (Object.keys(LANS) as Lan[]).flatMap((lan) => (at[lan] ? [{ lan, address: at[lan] }] : []));
  return { name, role, nics, routes: FRONT_ROUTES[role] };
}

/** A virtual address of the plan: a pair's shared address, watched like a host. */
export interface VirtualAddress {
  readonly name: string;
  readonly role: Role;
  readonly address: string;
}

/** The addresses that move between the members of a pair (none without crm:frontHa). */
export function virtualAddresses(opts: Pick<ScenarioOptions, "frontHa">): VirtualAddress[] {
  if (!opts.frontHa) return [];
  return [
    { name: "fw-vip", role: "firewall", address: FIREWALL_INSIDE },
    { name: "lb-vip", role: "balancer", address: SERVICE_ADDRESS },
  ];
}

/** Every host of the scenario, in the order they should come up. */
export function planScenario(opts: ScenarioOptions): HostPlan[] {
  const hosts: HostPlan[] = [
    ...(opts.frontHa
      ? [frontHost("fw", "firewall", FRONT_MEMBERS.fw), frontHost("fw2", "firewall", FRONT_MEMBERS.fw2)]
      : [frontHost("fw", "firewall", SINGLE_FIREWALL)]),
    ...(opts.frontHa
      ? [frontHost("lb", "balancer", FRONT_MEMBERS.lb), frontHost("lb2", "balancer", FRONT_MEMBERS.lb2)]
      : [frontHost("lb", "balancer", SINGLE_BALANCER)]),
    ...NAS_ADDRESSES.map((address, i) => backHost(`nas${i + 1}`, "nas", address)),
    backHost("bbdd", "db", DB_ADDRESS),
    ...(opts.dbStandby ? [backHost("bbdd2", "db", DB_STANDBY_ADDRESS)] : []),
  ];
  for (let i = 1; i <= opts.servers; i++) {
    hosts.push(frontBackHost(serverName(i), "app", FIRST_SERVER_OCTET + i - 1));
  }
  if (opts.monitoring) hosts.push(frontBackHost("nagios", "monitor", MONITOR_OCTET));
  if (opts.management) hosts.push(frontBackHost("ges", "management", MANAGEMENT_OCTET));
  for (const [i, octet] of [11, 12].entries()) {
    hosts.push({
      name: `c${i + 1}`,
      role: "client",
      nics: [{ lan: "lan1", address: `${LANS.lan1.prefix}.${octet}` }],
      routes: [{ to: SCENARIO_CIDR, via: FIREWALL_OUTSIDE }],
    });
  }
  return hosts;
}

export function hostsWithRole(hosts: readonly HostPlan[], role: Role): HostPlan[] {
  return hosts.filter((h) => h.role === role);
}

/** A host's address on one LAN; throws if the plan gives it none there (a programming error). */
export function addressOn(host: HostPlan, lan: Lan): string {
  const nic = host.nics.find((n) => n.lan === lan);
  if (!nic) throw new Error(`host ${host.name} has no address on ${lan}`);
  return nic.address;
}
