/**
 * The database pair (the seed's optional part 4): PostgreSQL on bbdd and bbdd2 with streaming,
 * synchronous replication, and a floating service address (VIP) that keepalived keeps on the
 * current primary. Apps connect to the VIP, so a failover needs no change on the app servers.
 *
 * How the pieces fit (each is explained where it is rendered):
 * - both nodes carry the same kind of configuration; which one is the primary is decided at run
 *   time (deploy, boot, failover), never by the configuration files;
 * - keepalived (VRRP over unicast, both BACKUP, nopreempt) moves the VIP; its health check lets
 *   only a primary, or a standby whose primary is gone, hold it; `notify_master` promotes;
 * - `crm-pg-ha watch` (a small service) keeps synchronous replication from blocking every
 *   write while the standby is down, and demotes a primary that lost the VIP to its peer;
 * - `crm-pg-guard.service` runs before PostgreSQL at boot: a node whose peer is already the
 *   primary comes back as its standby (pg_rewind, else a fresh base backup), never as a second primary.
 *
 * Known limit of any two-node pair without a third witness: if the two nodes lose sight of each
 * other while both run (a split LAN), the standby promotes itself. On one LAN4 bridge that means a
 * broken bridge port, which also cuts the old primary off from the apps; Patroni with a DCS on a
 * third host is the way to close it.
 */
import { PG_PORT } from "../topology/plan";
import { ensureAppDatabaseStep, renderPgConf, renderPgHba } from "./db";
import { enableNow, roleScript, shellQuote, sysctlAtBoot, systemdUnit, writeFile } from "./script";

/** The service address the apps use (DATABASE_URL), on LAN4. */
export const DB_VIP = "10.1.4.30";
export const DB_VIP_PREFIX = 24;
/** VRRP has no port (IP protocol 112); this is its router id, unique on LAN4. */
export const VRRP_ROUTER_ID = 30;
export const REPLICATION_USER = "replicator";
/** How long the primary waits for a vanished standby before it commits without it. */
export const SYNC_GRACE_SECONDS = 5;
/** The one program every piece calls: keepalived's check and notify, the boot guard, the watch, the role script. */
export const HA_SCRIPT_PATH = "/usr/local/sbin/crm-pg-ha";
export const GUARD_UNIT = "crm-pg-guard.service";
export const WATCH_UNIT = "crm-pg-watch.service";
/** The postgres user's libpq password file: the replication password lives here, never in a conninfo or on a command line. */
export const PGPASS_PATH = "/var/lib/postgresql/.pgpass";

export interface ReplicationArgs {
  /** This node's LAN4 address. */
  readonly self: string;
  /** The other node's LAN4 address. */
  readonly peer: string;
  /** The floating service address, without prefix (e.g. {@link DB_VIP}). */
  readonly vip: string;
  /** App servers' addresses: the same pg_hba lines as the single server, on both nodes. */
  readonly appClients: string[];
  readonly database: string;
  readonly user: string;
  /** Secret: the app's password. */
  readonly password: string;
  /** Secret: the replication user's password; reaches the host only in the script text. */
  readonly replicationPassword: string;
  /** bbdd (true) starts as the primary and has the higher VRRP priority; bbdd2 (false) starts as its standby. */
  readonly preferredPrimary: boolean;
  /** PostgreSQL's port on this node. @default PG_PORT */
  readonly port?: number;
  /** PostgreSQL's port on the peer (differs only in the tests, where both nodes share 127.0.0.1). @default PG_PORT */
  readonly peerPort?: number;
  /** The NIC on LAN4 that carries the VIP. @default "eth0" (the vnx containers' only NIC on bbdd/bbdd2) */
  readonly interface?: string;
}

/**
 * The node's name in replication: its application_name, the slot the primary keeps for it, and
 * the name in synchronous_standby_names. Fixed by the role, not the address, so it survives re-addressing.
 */
export function nodeName(preferredPrimary: boolean): string {
  return preferredPrimary ? "bbdd" : "bbdd2";
}

function names(args: ReplicationArgs) {
  return {
    selfName: nodeName(args.preferredPrimary),
    peerName: nodeName(!args.preferredPrimary),
    port: args.port ?? PG_PORT,
    peerPort: args.peerPort ?? PG_PORT,
    iface: args.interface ?? "eth0",
  };
}

/**
 * keepalived: both nodes start as BACKUP with `nopreempt`, so the VIP never moves back on its own
 * (a move is a failover: it would promote the standby). The check has no weight: failing puts the
 * instance in FAULT, which releases the VIP at once. It passes only on a primary, or on a standby
 * whose primary is gone (not streaming from it, and it does not answer as primary): so a standby
 * never holds the VIP while the other node is a healthy primary, and it becomes eligible as soon as
 * that primary dies. `fall 2` (2 s) keeps one slow query from moving the VIP; `rise 3` with
 * `init_fail` keeps a freshly booted standby out until its walreceiver has had time to connect.
 */
export function renderKeepalivedConf(args: ReplicationArgs): string {
  const { selfName, iface } = names(args);
  return `# crm-infra (generated): the database service address follows the PostgreSQL primary.
global_defs {
  router_id crm_${selfName}
  script_user root
  enable_script_security
}

vrrp_script crm_pg_primary {
  script "${HA_SCRIPT_PATH} check"
  # A check on a standby asks the peer whether it is the primary: against a dead host that takes
  # libpq's shortest connect timeout (2 s), so the check gets more time than that and runs every 2 s.
  interval 2
  timeout 5
  fall 2
  rise 2
  init_fail
}

vrrp_instance crm_db {
  state BACKUP
  nopreempt
  interface ${iface}
  virtual_router_id ${VRRP_ROUTER_ID}
  priority ${args.preferredPrimary ? 100 : 90}
  advert_int 1
  # Unicast: no multicast needed on the LAN (or on clouds); adverts from anyone else are ignored.
  unicast_src_ip ${args.self}
  unicast_peer {
    ${args.peer}
  }
  virtual_ipaddress {
    ${args.vip}/${DB_VIP_PREFIX} dev ${iface}
  }
  track_script {
    crm_pg_primary
  }
  # Failover = VRRP takeover (~3 s after the last advert) + promotion of the local standby.
  notify_master "${HA_SCRIPT_PATH} promote"
}
`;
}

/**
 * PostgreSQL settings for the pair, the same shape on both nodes. Standby-only settings
 * (primary_conninfo, primary_slot_name) are ignored on a primary and primary-only ones
 * (synchronous_standby_names) on a standby, so a promotion or a rejoin needs no config change:
 * only standby.signal in the data directory says which role a node plays.
 */
export function renderReplicationConf(args: ReplicationArgs): string {
  const { selfName, peerName, peerPort } = names(args);
  // No password here: libpq reads it from the postgres user's .pgpass.
  const conninfo = [
    `host=${args.peer}`,
    `port=${peerPort}`,
    `user=${REPLICATION_USER}`,
    `application_name=${selfName}`,
    "connect_timeout=2",
    "keepalives_idle=2",
    "keepalives_interval=1",
    "keepalives_count=3",
  ].join(" ");
  return `# crm-infra (generated): streaming replication between ${nodeName(true)} and ${nodeName(false)}; either may be the primary.
wal_level = replica
max_wal_senders = 5
max_replication_slots = 5
# pg_rewind (a returning old primary rejoins without a full copy) needs hint bits in the WAL.
wal_log_hints = on
hot_standby = on
hot_standby_feedback = on
# WAL kept for a returning node; a slot may not pin more than this (a dead standby must not fill the disk).
wal_keep_size = '256MB'
max_slot_wal_keep_size = '4GB'
# A dead peer host is noticed in ~5 s (not the 60 s default): this bounds failover detection and write stalls.
wal_sender_timeout = '5s'
wal_receiver_timeout = '5s'
wal_receiver_status_interval = '1s'
# Synchronous: a commit returns only once the standby has flushed it, so a failover loses no
# committed transaction. crm-pg-ha watch clears this (ALTER SYSTEM) when the standby has been gone
# ${SYNC_GRACE_SECONDS} s, and restores it when the standby streams again.
synchronous_commit = on
synchronous_standby_names = 'ANY 1 (${peerName})'
# Used only while standby.signal exists.
primary_conninfo = '${conninfo}'
primary_slot_name = '${selfName}'
recovery_target_timeline = 'latest'
`;
}

/** pg_hba lines for the pair: the replication user, from the peer only (either node may be the primary). */
export function renderReplicationHba(args: ReplicationArgs): string {
  return `# crm-infra (generated): the peer database node streams WAL (replication) and checks roles / runs pg_rewind (postgres)
host    replication  ${REPLICATION_USER}  ${args.peer}/32  scram-sha-256
host    postgres     ${REPLICATION_USER}  ${args.peer}/32  scram-sha-256
`;
}

/** The postgres user's .pgpass: the replication password for any host (the peer, and the VIP). */
export function renderPgPass(args: Pick<ReplicationArgs, "replicationPassword">): string {
  const escaped = args.replicationPassword.replace(/[\\:]/g, (c) => `\\${c}`);
  return `*:*:*:${REPLICATION_USER}:${escaped}\n`;
}

/**
 * `crm-pg-ha`, the one program behind every moving part, so that the tests run exactly what the
 * hosts run. Subcommands:
 * - `check`: keepalived's health check (exit 0 = may hold the VIP);
 * - `promote`: keepalived's notify_master (promote a standby; no-op on a primary);
 * - `guard`: at boot, PostgreSQL stopped: rejoin as a standby when the peer already is the primary;
 * - `join`: the same on a running node (stop, rejoin, start, wait for streaming);
 * - `deploy-role`: what the role script runs: prints `primary` or `standby`, joining or waiting as needed;
 * - `watch` (a loop) / `sync-tick` (one step): synchronous replication on/off, stale primary demotion;
 * - `start`, `stop`: PostgreSQL itself.
 * PostgreSQL's location defaults to Debian's layout; CRM_PG_* variables override it (the tests'
 * throw-away clusters). CRM_PG_SERVICE empty means: start and stop with pg_ctl, not systemd.
 */
export function renderPgHaScript(args: ReplicationArgs): string {
  const { selfName, peerName, port, peerPort } = names(args);
  for (const n of [selfName, peerName]) if (!/^[a-z0-9_]+$/.test(n)) throw new Error(`node name ${n} is not a valid slot name`);
  const settings = {
    SELF_NAME: selfName,
    PEER_NAME: peerName,
    PEER: args.peer,
    PEER_PORT: String(peerPort),
    PORT: String(port),
    VIP: args.vip,
    PREFERRED: args.preferredPrimary ? "yes" : "no",
    REPL_USER: REPLICATION_USER,
    GRACE: String(SYNC_GRACE_SECONDS),
  };
  const header = Object.entries(settings)
    .map(([k, v]) => `${k}=${shellQuote(v)}`)
    .join("\n");
  return `#!/bin/bash
# crm-pg-ha (generated by crm-infra): the PostgreSQL pair's failover logic. See roles/dbReplication.ts.
set -euo pipefail
${header}
PG_MAJOR=\${CRM_PG_MAJOR:-$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)}
PGBIN=\${CRM_PG_BIN:-/usr/lib/postgresql/$PG_MAJOR/bin}
PGDATA=\${CRM_PG_DATA:-/var/lib/postgresql/$PG_MAJOR/main}
PGCONFDIR=\${CRM_PG_CONFDIR:-/etc/postgresql/$PG_MAJOR/main}
PGSOCKET=\${CRM_PG_SOCKET:-/var/run/postgresql}
PGSERVICE=\${CRM_PG_SERVICE-postgresql@$PG_MAJOR-main}
PGLOG=\${CRM_PG_LOG:-/var/log/postgresql/crm-pg-ha.log}
STATE_DIR=\${CRM_STATE_DIR:-/run/crm-pg-ha}
MEMBER_MARK=crm-pair-member

log() {
  echo "crm-pg-ha: $*" >&2
  if command -v logger >/dev/null; then logger -t crm-pg-ha -- "$*" || true; fi
}
# Everything talks to PostgreSQL as the postgres user: peer auth locally, .pgpass (or PGPASSFILE) for the peer.
as_pg() { runuser -u postgres -- "$@"; }
local_sql() { as_pg "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$PGSOCKET" -p "$PORT" -d postgres -c "$1"; }
peer_conninfo() { echo "host=$PEER port=$PEER_PORT user=$REPL_USER connect_timeout=2 $1"; }
peer_sql() { as_pg "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$(peer_conninfo dbname=postgres)" -c "$1"; }

# down | primary | standby
local_state() {
  if ! as_pg "$PGBIN/pg_isready" -q -h "$PGSOCKET" -p "$PORT"; then echo down; return; fi
  case "$(local_sql 'select pg_is_in_recovery()' 2>/dev/null)" in
    t) echo standby ;;
    f) echo primary ;;
    *) echo down ;;
  esac
}
# "Answers as primary": the replication user can log in there (so it is a configured member of
# the pair, not a fresh package cluster) and it is not in recovery.
peer_is_primary() { [ "$(peer_sql 'select not pg_is_in_recovery()' 2>/dev/null)" = t ]; }
has_replicator() { [ "$(local_sql "select 1 from pg_roles where rolname = '$REPL_USER'" 2>/dev/null)" = 1 ]; }
holds_vip() { ip -o -4 addr show 2>/dev/null | grep -q " inet $VIP/"; }
# Whoever answers on the VIP when this node does not hold it is the peer.
vip_answers_as_primary() {
  [ "$(as_pg "$PGBIN/psql" -X -q -At "host=$VIP port=$PORT user=$REPL_USER dbname=postgres connect_timeout=1" \\
    -c 'select not pg_is_in_recovery()' 2>/dev/null)" = t ]
}

pg_running() { as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }
cmd_stop() {
  if [ -n "$PGSERVICE" ]; then
    systemctl stop "$PGSERVICE"
  elif pg_running; then
    as_pg "$PGBIN/pg_ctl" -D "$PGCONFDIR" -m fast -w stop >/dev/null
  fi
}
cmd_start() {
  if [ -n "$PGSERVICE" ]; then
    systemctl start "$PGSERVICE"
  else
    as_pg "$PGBIN/pg_ctl" -D "$PGCONFDIR" -l "$PGLOG" -w -t 120 start >/dev/null
  fi
}

wait_streaming() {
  local deadline=$((SECONDS + \${1:-120}))
  until [ "$(local_sql 'select status from pg_stat_wal_receiver' 2>/dev/null)" = streaming ]; do
    if ((SECONDS >= deadline)); then log "not streaming from $PEER after \${1:-120} s"; return 1; fi
    sleep 1
  done
}

# The peer keeps a physical slot named after this node, so it keeps the WAL this node still needs.
ensure_slot() {
  peer_sql "select pg_create_physical_replication_slot('$SELF_NAME', true) where not exists (select 1 from pg_replication_slots where slot_name = '$SELF_NAME')" >/dev/null
}

# A fresh copy of the peer. The old data directory is moved aside (one previous copy is kept), and
# put back if the copy fails, so a failed clone never leaves the node with nothing.
clone() {
  local aside="$PGDATA.crm-previous"
  if [ -e "$PGDATA" ]; then
    rm -rf -- "$aside"
    mv -- "$PGDATA" "$aside"
  fi
  install -d -o postgres -g postgres -m 0700 "$PGDATA"
  log "base backup from $PEER into $PGDATA"
  if ! as_pg "$PGBIN/pg_basebackup" -D "$PGDATA" -d "$(peer_conninfo "application_name=$SELF_NAME")" -S "$SELF_NAME" -X stream -c fast; then
    log "base backup failed; the previous data directory is back in place"
    rm -rf -- "$PGDATA"
    if [ -e "$aside" ]; then mv -- "$aside" "$PGDATA"; fi
    return 1
  fi
}

# An old primary keeps its data and drops only what the peer never saw (never committed, with
# synchronous replication). pg_rewind first finishes crash recovery itself (hence --config-file).
# Only a node that has been part of this pair may rewind: every node is cloned from one image whose
# cluster all nodes share (same system identifier), so pg_rewind would take a fresh node's unrelated
# history for a mere lag ("no rewind required") and it would never stream. Such a node is copied.
rewind() {
  [ -f "$PGDATA/$MEMBER_MARK" ] || return 1
  log "pg_rewind from $PEER"
  as_pg "$PGBIN/pg_rewind" --target-pgdata="$PGDATA" --source-server="$(peer_conninfo dbname=postgres)" \\
    --config-file="$PGCONFDIR/postgresql.conf"
}

# PostgreSQL is stopped: make this node a standby of the peer.
rejoin_stopped() {
  ensure_slot
  if ! rewind; then
    log "pg_rewind was not possible; taking a full copy"
    clone
  fi
  as_pg touch "$PGDATA/standby.signal"
  log "this node is now a standby of $PEER"
}

cmd_check() {
  as_pg "$PGBIN/pg_isready" -q -h "$PGSOCKET" -p "$PORT" || return 1
  local r
  r=$(local_sql "select pg_is_in_recovery(), exists (select 1 from pg_stat_wal_receiver where status = 'streaming')") || return 1
  case "$r" in
    "f|"*) return 0 ;;       # a primary
    "t|t") return 1 ;;       # a standby streaming from a live primary: that one keeps the VIP
    *) ! peer_is_primary ;;  # a standby whose primary is gone may take over
  esac
}

cmd_promote() {
  case "$(local_state)" in
    primary) return 0 ;;
    down) log "PostgreSQL is down: nothing to promote"; return 1 ;;
  esac
  if peer_is_primary; then log "$PEER is a healthy primary: not promoting"; return 1; fi
  log "promoting this standby"
  [ "$(local_sql 'select pg_promote(true, 60)')" = t ]
  # The old primary is gone: do not let every commit wait for it. The watch turns synchronous
  # replication back on when it streams from us again.
  local_sql "alter system set synchronous_standby_names = ''" >/dev/null
  local_sql 'select pg_reload_conf()' >/dev/null
  # pg_rewind on the old primary reads our new timeline from the control file: checkpoint now.
  local_sql 'checkpoint' >/dev/null
  log "promoted"
}

cmd_guard() {
  if ! peer_is_primary; then log "$PEER does not answer as a primary: starting as we are"; return 0; fi
  if [ -f "$PGDATA/standby.signal" ]; then return 0; fi
  log "$PEER is the primary and this node is not its standby: rejoining"
  rejoin_stopped
}

cmd_join() {
  if [ -f "$PGDATA/standby.signal" ] && [ "$(local_state)" = standby ]; then wait_streaming; return; fi
  peer_is_primary || { log "$PEER does not answer as a primary: nothing to join"; return 1; }
  cmd_stop
  rejoin_stopped
  cmd_start
  wait_streaming
}

# Marks this node's data as the pair's (base backups and pg_rewind carry the mark to the standby).
mark_member() { as_pg touch "$PGDATA/$MEMBER_MARK"; }

cmd_deploy_role() {
  local deadline=$((SECONDS + \${1:-900})) me
  while :; do
    me=$(local_state)
    if peer_is_primary; then
      # Two primaries: the one holding the VIP keeps the role (the watch demotes the other).
      if [ "$me" = primary ] && has_replicator && holds_vip; then mark_member; echo primary; return; fi
      cmd_join >&2
      echo standby
      return
    fi
    if [ "$me" = standby ]; then echo standby; return; fi
    # bbdd starts the pair; bbdd2's fresh package cluster waits for it (unless it is the pair's primary already).
    if [ "$me" = primary ] && { [ "$PREFERRED" = yes ] || has_replicator; }; then mark_member; echo primary; return; fi
    if ((SECONDS >= deadline)); then log "timed out waiting for $PEER to answer as the primary"; return 1; fi
    sleep 2
  done
}

# Synchronous replication with one standby blocks every commit while that standby is away. After
# GRACE seconds without it the primary commits alone (ALTER SYSTEM, so a restart keeps the
# choice); when the standby streams again, the configured synchronous_standby_names is back.
# Only during that window can a commit be lost, and only if the primary dies in it for good.
cmd_sync_tick() {
  mkdir -p "$STATE_DIR"
  local now seen r
  now=$(date +%s)
  if [ "$(local_state)" != primary ]; then echo "$now" >"$STATE_DIR/standby-seen"; return 0; fi
  r=$(local_sql "select exists (select 1 from pg_stat_replication where application_name = '$PEER_NAME' and state = 'streaming'), current_setting('synchronous_standby_names') = ''")
  [ -s "$STATE_DIR/standby-seen" ] || echo "$now" >"$STATE_DIR/standby-seen"
  seen=$(cat "$STATE_DIR/standby-seen")
  case "$r" in
    "t|t")
      local_sql 'alter system reset synchronous_standby_names' >/dev/null
      local_sql 'select pg_reload_conf()' >/dev/null
      log "$PEER_NAME streams again: synchronous replication restored"
      echo "$now" >"$STATE_DIR/standby-seen" ;;
    "t|f") echo "$now" >"$STATE_DIR/standby-seen" ;;
    "f|f")
      if ((now - seen >= GRACE)); then
        local_sql "alter system set synchronous_standby_names = ''" >/dev/null
        local_sql 'select pg_reload_conf()' >/dev/null
        log "$PEER_NAME gone for $((now - seen)) s: committing without it until it returns"
      fi ;;
  esac
}

# A primary that does not hold the VIP while the peer answers there as a primary is stale (it
# started while the peer had taken over): it rejoins as the peer's standby.
demote_if_stale() {
  [ "$(local_state)" = primary ] || return 0
  holds_vip && return 0
  vip_answers_as_primary || return 0
  log "$PEER holds $VIP as the primary: this node rejoins as its standby"
  cmd_join
}

cmd_watch() {
  while :; do
    cmd_sync_tick || true
    demote_if_stale || true
    sleep 1
  done
}

case "\${1:-}" in
  check) cmd_check ;;
  promote) cmd_promote ;;
  guard) cmd_guard ;;
  join) cmd_join ;;
  deploy-role) cmd_deploy_role "\${2:-900}" ;;
  sync-tick) cmd_sync_tick ;;
  watch) cmd_watch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  state) local_state ;;
  *) echo "usage: $0 check|promote|guard|join|deploy-role|sync-tick|watch|start|stop|state" >&2; exit 2 ;;
esac
`;
}

/**
 * Runs before PostgreSQL at every boot. Debian's postgresql.service only wraps the real
 * postgresql@<major>-main, so a drop-in on that template orders (and ties) the cluster after the
 * guard: if the guard fails (say, a clone that could not finish), PostgreSQL stays down rather than
 * coming up as a second primary.
 */
export function renderGuardUnit(): string {
  return systemdUnit({
    Unit: {
      Description: "crm: come back as a standby when the peer is already the primary",
      Wants: "network-online.target",
      After: "network-online.target",
      Before: "postgresql.service",
    },
    Service: { Type: "oneshot", RemainAfterExit: "yes", ExecStart: `${HA_SCRIPT_PATH} guard`, TimeoutStartSec: "30min" },
    Install: { WantedBy: "multi-user.target" },
  });
}

export const GUARD_DROPIN_PATH = "/etc/systemd/system/postgresql@.service.d/crm-guard.conf";

export const KEEPALIVED_DROPIN_PATH = "/etc/systemd/system/keepalived.service.d/crm-after-postgresql.conf";

export function renderGuardDropIn(): string {
  return systemdUnit({ Unit: { Requires: GUARD_UNIT, After: GUARD_UNIT } });
}

export function renderWatchUnit(): string {
  return systemdUnit({
    Unit: { Description: "crm: synchronous replication on/off with the standby; demote a stale primary", After: "postgresql.service" },
    Service: { ExecStart: `${HA_SCRIPT_PATH} watch`, Restart: "always", RestartSec: "2" },
    Install: { WantedBy: "multi-user.target" },
  });
}

/**
 * The replication user (and what pg_rewind needs to read from a source server), created on the
 * primary; it reaches the standby by replication. The password travels in psql's environment.
 * psql finds the cluster through PGHOST/PGPORT when set (the tests), else Debian's default.
 */
export function ensureReplicatorStep(args: Pick<ReplicationArgs, "replicationPassword">): string {
  return `CRM_REPL_PASSWORD=${shellQuote(args.replicationPassword)} runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -v repl=${REPLICATION_USER} <<'CRM_SQL'
\\getenv repl_password CRM_REPL_PASSWORD
SELECT format('CREATE ROLE %I LOGIN REPLICATION', :'repl') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'repl')
\\gexec
ALTER ROLE :"repl" WITH LOGIN REPLICATION PASSWORD :'repl_password';
GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO :"repl";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO :"repl";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO :"repl";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO :"repl";
CRM_SQL`;
}

/** What only the primary runs at deploy time: the replication user, then the app's role and database. */
export function primarySetupSteps(args: ReplicationArgs): string {
  return [ensureReplicatorStep(args), ensureAppDatabaseStep(args)].join("\n");
}

/**
 * The complete role script for either node. On a first deploy bbdd becomes the primary and bbdd2
 * waits for it, then clones itself; on any later run each node keeps the role it has now (after a
 * failover bbdd2 stays the primary), which `crm-pg-ha deploy-role` decides.
 */
export function replicatedDbRoleScript(args: ReplicationArgs): string {
  const ha = HA_SCRIPT_PATH;
  const pgHba = renderPgHba({ clients: args.appClients, database: args.database, user: args.user }) + renderReplicationHba(args);
  return roleScript(
    `db (${nodeName(args.preferredPrimary)}, replicated)`,
    `PG_MAJOR=$(ls /etc/postgresql | sort -n | tail -1)
PG_ETC=/etc/postgresql/$PG_MAJOR/main
CRM_PG_RESTART=""`,
    // PostgreSQL listens on the VIP too, on both nodes, before the VIP is there.
    sysctlAtBoot("pg-nonlocal-bind", { "net.ipv4.ip_nonlocal_bind": "1" }),
    writeFile(ha, renderPgHaScript(args), { mode: "0755" }),
    writeFile(PGPASS_PATH, renderPgPass(args), { mode: "0600", onChange: `chown postgres:postgres ${PGPASS_PATH}` }),
    writeFile(`/etc/systemd/system/${GUARD_UNIT}`, renderGuardUnit(), { onChange: "systemctl daemon-reload" }),
    writeFile(GUARD_DROPIN_PATH, renderGuardDropIn(), { onChange: "systemctl daemon-reload" }),
    writeFile(`/etc/systemd/system/${WATCH_UNIT}`, renderWatchUnit(), {
      onChange: `systemctl daemon-reload; systemctl try-restart ${WATCH_UNIT}`,
    }),
    `systemctl enable --quiet ${GUARD_UNIT}`,
    enableNow("postgresql.service"),
    writeFile("$PG_ETC/conf.d/crm.conf", renderPgConf(`${args.self},${args.vip}`), { onChange: "CRM_PG_RESTART=1" }),
    writeFile("$PG_ETC/conf.d/crm-replication.conf", renderReplicationConf(args), { onChange: "CRM_PG_RESTART=1" }),
    writeFile("$PG_ETC/pg_hba.conf", pgHba, {
      mode: "0640",
      onChange: 'chown postgres:postgres "$PG_ETC/pg_hba.conf"; systemctl reload postgresql',
    }),
    `if [ -n "$CRM_PG_RESTART" ]; then systemctl restart postgresql; fi
crm_retry 60 "PostgreSQL to accept connections" runuser -u postgres -- pg_isready -q`,
    // The watch runs before any commit: on a first deploy the primary's own setup would otherwise
    // wait for a standby that does not exist yet.
    enableNow(WATCH_UNIT),
    `CRM_PG_ROLE=$(${ha} deploy-role)
echo "crm: this node is the database $CRM_PG_ROLE"
if [ "$CRM_PG_ROLE" = primary ]; then`,
    primarySetupSteps(args),
    "fi",
    // At boot keepalived waits for PostgreSQL (and so for the guard): a node whose database is not up yet
    // cannot win the VIP race only because its keepalived started first.
    writeFile(KEEPALIVED_DROPIN_PATH, systemdUnit({ Unit: { After: "postgresql.service" } }), { onChange: "systemctl daemon-reload" }),
    writeFile("/etc/keepalived/keepalived.conf", renderKeepalivedConf(args), {
      onChange: "systemctl reload keepalived 2>/dev/null || true",
    }),
    enableNow("keepalived.service"),
  );
}
