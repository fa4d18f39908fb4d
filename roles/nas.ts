/** The storage hosts: a GlusterFS replica-3 volume for the CRM's uploads. */
import { enableNow, roleScript, shellQuote, systemdUnit } from "./script";

export interface GlusterVolumeArgs {
  readonly volume: string;
  /** Every storage server's address; the first one forms the cluster. */
  readonly servers: readonly string[];
  /** Directory of the brick on each server. */
  readonly brick: string;
  /** Addresses allowed to mount the volume (app servers); the servers themselves are always allowed. */
  readonly clients: readonly string[];
}

/** Every storage host: glusterd running (Debian does not enable it), the brick directory present. */
export function nasRoleScript(args: Pick<GlusterVolumeArgs, "brick">): string {
  return roleScript("nas", `mkdir -p ${shellQuote(args.brick)}`, enableNow("glusterd.service"));
}

/**
 * Volume options: client quorum (writes need 2 of 3 bricks, so a partitioned brick cannot diverge),
 * server quorum, a 5 s ping timeout so clients give up on a dead server quickly, and auth.allow
 * limited to the app servers and the cluster itself.
 */
export function glusterVolumeOptions(args: GlusterVolumeArgs): Readonly<Record<string, string>> {
  return {
    "cluster.quorum-type": "auto",
    "cluster.server-quorum-type": "server",
    "network.ping-timeout": "5",
    "auth.allow": [...args.servers, ...args.clients].join(","),
  };
}

/**
 * Run on the first server once glusterd runs everywhere: probes the peers, creates and starts
 * the replica-3 volume if it does not exist, and (re)applies the options. Safe to run again,
 * e.g. when the app tier grows and auth.allow must list the new server.
 */
export function glusterFormationScript(args: GlusterVolumeArgs): string {
  const [, ...peers] = args.servers;
  const bricks = args.servers.map((s) => `${s}:${args.brick}`).join(" ");
  const vol = shellQuote(args.volume);
  const options = Object.entries(glusterVolumeOptions(args))
    .map(([k, v]) => `gluster volume set ${vol} ${k} ${shellQuote(v)} >/dev/null`)
    .join("\n");
  return roleScript(
    "nas cluster",
    ...peers.map((p) => `crm_retry 60 "gluster peer ${p}" gluster peer probe ${p} >/dev/null`),
    `crm_retry 60 "all gluster peers connected" bash -c '[ "$(gluster pool list | grep -c Connected)" -eq ${args.servers.length} ]'`,
    // Peers see each other a little after the first server sees them all ("Staging failed on …:
    // Host … not connected"): the creation is retried until it goes through.
    // 'force': the bricks are directories on the root file system, as in the seed's scenario.
    `crm_retry 60 "the volume ${args.volume} created" bash -c ${shellQuote(
      `gluster volume info ${vol} >/dev/null 2>&1 || gluster volume create ${vol} replica ${args.servers.length} ${bricks} force`,
    )}`,
    options,
    `gluster volume info ${vol} | grep -q '^Status: Started' || gluster volume start ${vol}`,
  );
}

/**
 * A client's mount of a volume that keeps trying until it succeeds, so a host that boots before the
 * storage hosts still gets its mount (a plain mount unit gives up at once). The other servers are
 * backup volfile servers: any one of the three storage hosts is enough to mount.
 * A try made while the volume is still being created can leave a dead FUSE mount behind ("Transport
 * endpoint is not connected": not a mount point, yet mount refuses it): it is lazily unmounted before
 * the next try. Found by the cloud rehearsal, where app servers boot with the bricks.
 */
export function renderGlusterMountUnit(args: {
  description: string;
  mountpoint: string;
  volume: string;
  servers: readonly string[];
  /** Create /dev/fuse when it is missing, before mounting. */
  makeFuseDevice?: boolean;
}): string {
  const [primary, ...backups] = args.servers;
  if (!primary) throw new Error(`${args.description}: no storage host to mount from`);
  const options = `backup-volfile-servers=${backups.join(":")}`;
  return systemdUnit({
    Unit: { Description: `crm: ${args.description}`, After: "network-online.target", Wants: "network-online.target" },
    Service: {
      Type: "oneshot",
      RemainAfterExit: "yes",
      ...(args.makeFuseDevice ? { ExecStartPre: "/bin/sh -c '[ -e /dev/fuse ] || mknod -m 0666 /dev/fuse c 10 229'" } : {}),
      ExecStart: `/bin/sh -c 'until mountpoint -q ${args.mountpoint} || { umount -l ${args.mountpoint} 2>/dev/null; mount -t glusterfs -o ${options} ${primary}:/${args.volume} ${args.mountpoint}; }; do sleep 2; done'`,
      ExecStop: `/bin/umount -l ${args.mountpoint}`,
      TimeoutStartSec: "infinity",
    },
    Install: { WantedBy: "multi-user.target" },
  });
}
