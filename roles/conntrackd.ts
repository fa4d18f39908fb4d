/**
 * The firewalls' connection-tracking state, synchronized (crm:frontHa): conntrackd in FTFW mode
 * (reliable: lost sync messages are resent) over UDP on LAN2, between the two members' own
 * addresses. Each member sends what its kernel tracks and keeps the peer's connections in an
 * external cache; the member that takes the shared addresses commits that cache to its kernel
 * (roles/files/crm-conntrack-failover, keepalived's notify), so a connection established through
 * the dead firewall is still ESTABLISHED for the new one and is let through.
 *
 * Needs the Debian package conntrackd, which the base image lacks: the vnx target installs it on
 * the firewalls only (targets/vnx/scripts/packages.sh).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { enableNow, writeFile } from "./script";

export const CONNTRACKD_PACKAGE = "conntrackd";
export const CONNTRACKD_CONF = "/etc/conntrackd/conntrackd.conf";
export const FAILOVER_SCRIPT = "/usr/local/sbin/crm-conntrack-failover";

export interface ConntrackSyncArgs {
  /** This member's own address on the sync LAN. */
  readonly self: string;
  /** The other member's own address there. */
  readonly peer: string;
  /** The NIC on the sync LAN. */
  readonly interface: string;
  readonly port: number;
  /**
   * Addresses whose connections are not synchronized: the firewall's own (both members', the
   * shared ones): its own traffic (VRRP, the sync itself) is no one else's business.
   */
  readonly ignore: readonly string[];
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** conntrackd.conf for one firewall. */
export function renderConntrackdConf(args: ConntrackSyncArgs): string {
  for (const a of [args.self, args.peer, ...args.ignore])
    if (!IPV4.test(a)) throw new Error(`conntrackd: ${JSON.stringify(a)} is not an IPv4 address`);
  if (!Number.isInteger(args.port) || args.port < 1 || args.port > 65535) throw new Error(`conntrackd: bad port ${args.port}`);
  const ignore = [...new Set(["127.0.0.1", ...args.ignore])].map((a) => `      IPv4_address ${a}`).join("\n");
  return `# crm-infra (generated): the firewalls' connection tracking, synchronized with the peer ${args.peer}.
Sync {
  Mode FTFW {
    # The peer's connections wait in the external cache until this member takes over
    # (crm-conntrack-failover primary commits them).
    DisableExternalCache off
    ResendQueueSize 131072
  }
  UDP {
    IPv4_address ${args.self}
    IPv4_Destination_Address ${args.peer}
    Port ${args.port}
    Interface ${args.interface}
    SndSocketBuffer 1249280
    RcvSocketBuffer 1249280
    Checksum on
  }
}

General {
  HashSize 8192
  HashLimit 65535
  Syslog on
  LockFile /var/lock/conntrackd.lock
  UNIX {
    Path /var/run/conntrackd.ctl
  }
  NetlinkBufferSize 2097152
  NetlinkBufferSizeMaxGrowth 8388608
  # Debian's unit is Type=notify.
  Systemd on
  Filter From Kernelspace {
    Protocol Accept {
      TCP
      UDP
      ICMP
    }
    Address Ignore {
${ignore}
    }
    # Only what a new member can carry on: a half-open connection committed as SYN_SENT would make
    # its next packets invalid there, while one not synchronized at all is taken up as new (the
    # kernel's loose pickup, under the forward policy) or started again by the client's next SYN.
    # The trade-off of conntrackd's own example configuration.
    State Accept {
      ESTABLISHED CLOSED TIME_WAIT CLOSE_WAIT for TCP
    }
  }
}
`;
}

/** Role steps: the notify script, the configuration, conntrackd running and enabled at boot. */
export function conntrackSyncSteps(args: ConntrackSyncArgs): string {
  return [
    writeFile(FAILOVER_SCRIPT, fs.readFileSync(path.join(__dirname, "files/crm-conntrack-failover"), "utf8"), { mode: "0755" }),
    writeFile(CONNTRACKD_CONF, renderConntrackdConf(args), {
      onChange: "systemctl try-restart conntrackd.service",
    }),
    enableNow("conntrackd.service"),
  ].join("\n");
}
