/** The storage hosts: a GlusterFS replica-3 volume for the CRM's uploads. */
import { enableNow, roleScript, shellQuote } from "./script";

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
