/**
 * The front pairs of crm:frontHa: fw/fw2 and lb/lb2 each share their addresses by VRRP
 * (keepalived): unicast adverts between the two members' own addresses, both members BACKUP with `nopreempt`, so that a member
 * coming back never takes the addresses back (a move is an interruption: it happens once, when
 * the holder dies, and not again when it returns).
 *
 * What differs: a pair shares one address on each of two LANs (the firewall 10.1.1.1 and
 * 10.1.2.1, the balancer 10.1.2.2 and 10.1.3.1), and both must sit on the same member, or traffic
 * would go in through one and come back through the other: one instance per LAN, joined in a
 * sync group, so they move together. Adverts every 0.25 s (VRRPv3 allows fractions of a second):
 * the backup takes over 0.9 s (3 adverts and its skew) after the last advert of a dead holder.
 * Below 1 s on purpose: a client's SYN lost to the dead holder is sent again 1 s later (Linux's
 * initial retransmission timeout), and then finds the new holder; a takeover slower than that
 * would leave it for the next retry, 3 s after the first: over the design's 3 s.
 */
import { enableNow, systemdUnit, writeFile } from "./script";

/** One shared address and the LAN it lives on, as one VRRP instance. */
export interface VrrpAddress {
  /** The instance's name, unique on the host (e.g. `lan1`). */
  readonly name: string;
  /** The member's NIC on that LAN (eth0, eth1 … in the plan's NIC order). */
  readonly interface: string;
  /** VRRP router id, unique on the LAN. */
  readonly routerId: number;
  /** This member's own address on that LAN (the adverts' source). */
  readonly self: string;
  /** The other member's own address on that LAN (the adverts' destination). */
  readonly peer: string;
  /** The shared address, with its LAN's prefix length (e.g. 10.1.1.1/24). */
  readonly virtual: string;
}

export interface VrrpPairArgs {
  /** The pair's name (fw, lb): keepalived's group and router id. */
  readonly pair: string;
  /** This member's name (fw2, lb …). */
  readonly member: string;
  /** The preferred member has the higher priority: on a first start it takes the addresses. */
  readonly preferred: boolean;
  readonly addresses: readonly VrrpAddress[];
  /** A command that must succeed for this member to hold the addresses (e.g. HAProxy runs); checked every second. */
  readonly check?: string;
  /** Run as root when this member becomes the holder (e.g. conntrackd's commit). */
  readonly onMaster?: string;
  /** Run as root when this member stops being the holder. */
  readonly onBackup?: string;
}

/** Adverts every quarter second; a backup declares the holder dead after 3 missed ones (plus its skew). */
export const ADVERT_INTERVAL_SECONDS = 0.25;
export const PRIORITY = { preferred: 100, other: 90 } as const;

function problem(args: VrrpPairArgs): string | undefined {
  if (args.addresses.length === 0) return "no shared address";
  const ids = args.addresses.map((a) => a.routerId);
  if (new Set(ids).size !== ids.length) return "two instances with one router id";
  for (const a of args.addresses) {
    if (!Number.isInteger(a.routerId) || a.routerId < 1 || a.routerId > 255) return `${a.name}: router id ${a.routerId} is not 1..255`;
    if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(a.virtual)) return `${a.name}: ${a.virtual} is not ADDRESS/PREFIX`;
    if (a.self === a.peer) return `${a.name}: the member and its peer have one address`;
  }
  return undefined;
}

/** keepalived.conf for one member of a front pair. */
export function renderVrrpPairConf(args: VrrpPairArgs): string {
  const wrong = problem(args);
  if (wrong) throw new Error(`vrrp ${args.pair}: ${wrong}`);
  const group = `crm_${args.pair}`;
  const check = args.check
    ? `
# No weight: a failing check puts the instances in FAULT, which gives the addresses up at once.
vrrp_script ${group}_check {
  script "${args.check}"
  interval 1
  timeout 2
  fall 2
  rise 2
}
`
    : "";
  const notify = [
    args.onMaster ? `  notify_master "${args.onMaster}"` : "",
    args.onBackup ? `  notify_backup "${args.onBackup}"\n  notify_fault "${args.onBackup}"` : "",
  ]
    .filter(Boolean)
    .join("\n");
  const instances = args.addresses.map(
    (a) => `
vrrp_instance ${group}_${a.name} {
  state BACKUP
  nopreempt
  interface ${a.interface}
  virtual_router_id ${a.routerId}
  priority ${args.preferred ? PRIORITY.preferred : PRIORITY.other}
  advert_int ${ADVERT_INTERVAL_SECONDS}
  # Unicast: adverts from anyone but the peer are ignored, and no multicast is needed.
  unicast_src_ip ${a.self}
  unicast_peer {
    ${a.peer}
  }
  virtual_ipaddress {
    ${a.virtual} dev ${a.interface}
  }${args.check ? `\n  track_script {\n    ${group}_check\n  }` : ""}
}
`,
  );
  return `# crm-infra (generated): ${args.member}'s side of the ${args.pair} pair's shared addresses.
global_defs {
  router_id crm_${args.member}
  script_user root
  enable_script_security
  # v3: adverts at fractions of a second.
  vrrp_version 3
  # A takeover is announced at once, and again a second later for a neighbour that missed it.
  vrrp_garp_master_delay 1
  vrrp_garp_master_repeat 3
}
${check}
# One group: every shared address of the pair moves at once, to one member.
vrrp_sync_group ${group} {
  group {
${args.addresses.map((a) => `    ${group}_${a.name}`).join("\n")}
  }
${notify ? `${notify}\n` : ""}}
${instances.join("")}`;
}

/** keepalived must start only once the member can serve (the firewall's rules or HAProxy loaded). */
export const KEEPALIVED_ORDER_DROPIN = "/etc/systemd/system/keepalived.service.d/crm-after.conf";

/** Role steps: keepalived configured (reloaded on change), started after `after`, enabled at boot. */
export function vrrpPairSteps(args: VrrpPairArgs, after: string): string {
  return [
    writeFile(KEEPALIVED_ORDER_DROPIN, systemdUnit({ Unit: { After: after } }), { onChange: "systemctl daemon-reload" }),
    writeFile("/etc/keepalived/keepalived.conf", renderVrrpPairConf(args), {
      onChange: "systemctl reload keepalived 2>/dev/null || true",
    }),
    enableNow("keepalived.service"),
  ].join("\n");
}
