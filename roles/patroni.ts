/**
 * PostgreSQL that survives any single failure (issue 11): Patroni runs PostgreSQL on bbdd and
 * bbdd2, a three-member etcd (bbdd, bbdd2 and a witness on nas1) holds the leader lock, and every
 * app server reaches the leader through a local HAProxy that asks each node's Patroni REST API
 * which one is the primary. The choices, and what each failure does, are in docs/database.md.
 *
 * Every file here is rendered by a pure function; the role scripts only place them and start the
 * services. Which node leads is decided by Patroni at run time, never by these files.
 */
import { createHmac } from "node:crypto";
import { PG_PORT } from "../topology/plan";
import {
  ARCHIVE_TIMEOUT_SECONDS,
  BACKUP_PACKAGE,
  PG_MAJOR,
  PG_SOCKET_DIR,
  PGBACKREST_CONF,
  archiveCommand,
  backupSetupSteps,
  firstBackupStep,
  restoreCommand,
  type BackupArgs,
  type DbHostLayout,
} from "./backup";
import { ensureAppDatabaseStep } from "./db";
import { enableNow, roleScript, shellQuote, writeFile } from "./script";

/** Patroni's cluster name: the etcd keys live under /service/crm/. */
const PATRONI_SCOPE = "crm";
const PATRONI_NAMESPACE = "/service/";
export const PATRONI_CONFIG = "/etc/patroni/config.yml";
export const PATRONI_REST_PORT = 8008;
const ETCD_CLIENT_PORT = 2379;
const ETCD_PEER_PORT = 2380;
export const ETCD_ENV = "/etc/default/etcd";
/** Our own data directory: the package's default one may hold a one-member cluster from the first boot. */
export const ETCD_DATA_DIR = "/var/lib/etcd/crm";
const SUPERUSER = "postgres";
const REPLICATION_USER = "replicator";
/** The user of Patroni's REST API for what changes state (switchover, restart…); reads need none. */
const REST_USER = "patroni";
/** The app servers' local HAProxy listens here; DATABASE_URL points at it on every server, for good. */
export const DB_PROXY_ADDRESS = "127.0.0.1";
const DB_PROXY_CONFIG = "/etc/haproxy/haproxy.cfg";

/**
 * Patroni's clock. The leader renews its lock every loop_wait; when it stops (host lost), the lock
 * expires after ttl and the synchronous standby takes over. ttl is 20 s, the least Patroni 4.0
 * accepts: Debian 13's Patroni (4.0.7) raises any smaller ttl to 20 on its own (config.py,
 * `_validate_and_adjust_timeouts`; `patronictl show-config` then says 20), so the 8 s set here
 * before was never in force. Measured on LXC (test/e2e/database.test.ts): 22–23 s from the kill to
 * writes again, about ttl + Patroni's 2 s check of the dead member's REST API + the promotion and the
 * proxy's check; over the issue's 15 s target, which this Patroni cannot reach for a lost host.
 * Patroni requires loop_wait + 2 × retry_timeout ≤ ttl.
 */
export const PATRONI_TIMING = { ttl: 20, loop_wait: 1, retry_timeout: 3 } as const;
/** The smallest ttl Patroni 4.0 keeps (a smaller one is raised to it). */
export const PATRONI_MIN_TTL = 20;
/** Patroni's fixed timeout when it asks the other members' REST API before promoting itself. */
export const PATRONI_MEMBER_CHECK_SECONDS = 2;
/**
 * etcd's raft clock on LAN4 (one bridge, sub-millisecond): heartbeats every 100 ms and a new leader
 * after 500 ms of silence (etcd's defaults are 100 and 1000), since a new etcd leader restarts
 * Patroni's lock ttl.
 */
const ETCD_TIMING = { heartbeatMs: 100, electionMs: 500 } as const;

export interface EtcdMember {
  /** The member's name: the host's name in the plan (bbdd, bbdd2, nas1). */
  readonly name: string;
  readonly address: string;
  /** Ports differ only in the tests, where every member shares 127.0.0.1. @default 2379 / 2380 */
  readonly clientPort?: number;
  readonly peerPort?: number;
}

export interface EtcdArgs {
  /** This host's member name. */
  readonly self: string;
  /** All three members, the same list on each. */
  readonly members: readonly EtcdMember[];
  /** @default ETCD_DATA_DIR */
  readonly dataDir?: string;
}

/** The three passwords of the cluster, besides the app's; they reach the hosts only inside the script text. */
export interface DbSecrets {
  readonly superuser: string;
  readonly replication: string;
  readonly restApi: string;
  /** The app's own user. */
  readonly app: string;
}

/**
 * The cluster's own passwords, derived from the app's: no secret more to configure, they change with
 * it, and the derivation is one-way, so none reveals another. Every target that runs the pair uses this.
 */
export function deriveDbSecrets(appPassword: string): DbSecrets {
  const derive = (purpose: string) => createHmac("sha256", appPassword).update(`crm-infra ${purpose}`).digest("base64url");
  return { superuser: derive("superuser"), replication: derive("replication"), restApi: derive("patroni rest api"), app: appPassword };
}

/**
 * Debian packages the database pair needs beyond the base image (the vnx target installs them per
 * host). python3-etcd by name: Patroni's etcd3 client imports it, yet Debian 13's patroni lets
 * python3-consul (which it needs anyway) satisfy that dependency, so it would not come along.
 */
export const PATRONI_PACKAGES = ["patroni", "python3-etcd", "etcd-server", "etcd-client", BACKUP_PACKAGE] as const;
/** The etcd witness needs the server only. */
export const WITNESS_PACKAGES = ["etcd-server"] as const;

export interface PatroniNodeArgs {
  /** This node's member name (bbdd, bbdd2). */
  readonly name: string;
  /** This node's LAN4 address: PostgreSQL and the REST API listen there only. */
  readonly address: string;
  /** The other database nodes' addresses: replication and pg_rewind connect from there. */
  readonly peers: readonly string[];
  readonly etcd: readonly EtcdMember[];
  /** App servers' addresses (each one's HAProxy connects from there). */
  readonly appClients: readonly string[];
  readonly database: string;
  readonly user: string;
  readonly secrets: DbSecrets;
  readonly backup: BackupArgs;
  /** PostgreSQL's major version in the image. @default 17 (Debian 13) */
  readonly pgMajor?: number;
  /** @default PG_PORT */
  readonly port?: number;
  /** @default PATRONI_REST_PORT */
  readonly restPort?: number;
  /** Paths that only the tests move. @default Debian's */
  readonly paths?: Partial<PatroniPaths>;
}

export interface PatroniPaths {
  readonly dataDir: string;
  readonly binDir: string;
  readonly socketDir: string;
  /** The .pgpass Patroni writes for its own replication and rewind connections. */
  readonly pgpass: string;
  readonly pgbackrestConfig: string;
}

const NAME = /^[a-z][a-z0-9-]*$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Three members exactly: two keep quorum when any one is lost, and a fourth would not tolerate more. */
export function validateEtcdMembers(members: readonly EtcdMember[]): void {
  if (members.length !== 3) throw new Error(`etcd needs exactly 3 members (any one may fail), got ${members.length}`);
  const names = new Set<string>();
  const endpoints = new Set<string>();
  for (const m of members) {
    if (!NAME.test(m.name)) throw new Error(`etcd: invalid member name ${JSON.stringify(m.name)}`);
    if (!IPV4.test(m.address)) throw new Error(`etcd: member ${m.name} has an invalid address ${JSON.stringify(m.address)}`);
    if (names.has(m.name)) throw new Error(`etcd: member ${m.name} listed twice`);
    names.add(m.name);
    for (const port of [clientPort(m), peerPort(m)]) {
      const endpoint = `${m.address}:${port}`;
      if (endpoints.has(endpoint)) throw new Error(`etcd: ${endpoint} used twice`);
      endpoints.add(endpoint);
    }
  }
}

const clientPort = (m: EtcdMember): number => m.clientPort ?? ETCD_CLIENT_PORT;
const peerPort = (m: EtcdMember): number => m.peerPort ?? ETCD_PEER_PORT;
const etcdClientUrl = (m: EtcdMember): string => `http://${m.address}:${clientPort(m)}`;
const etcdPeerUrl = (m: EtcdMember): string => `http://${m.address}:${peerPort(m)}`;

/**
 * Debian's etcd unit reads its settings from /etc/default/etcd (systemd EnvironmentFile syntax).
 * Plain HTTP on LAN4, which only the back-end hosts reach (docs/database.md says what TLS would add).
 */
export function renderEtcdEnv(args: EtcdArgs): string {
  validateEtcdMembers(args.members);
  const self = args.members.find((m) => m.name === args.self);
  if (!self) throw new Error(`etcd: ${args.self} is not one of the members`);
  const settings: Record<string, string> = {
    ETCD_NAME: self.name,
    ETCD_DATA_DIR: args.dataDir ?? ETCD_DATA_DIR,
    ETCD_LISTEN_PEER_URLS: etcdPeerUrl(self),
    ETCD_LISTEN_CLIENT_URLS: etcdClientUrl(self),
    ETCD_INITIAL_ADVERTISE_PEER_URLS: etcdPeerUrl(self),
    ETCD_ADVERTISE_CLIENT_URLS: etcdClientUrl(self),
    ETCD_INITIAL_CLUSTER: args.members.map((m) => `${m.name}=${etcdPeerUrl(m)}`).join(","),
    // Read only when the data directory is empty: a member that restarts rejoins with what it has.
    ETCD_INITIAL_CLUSTER_STATE: "new",
    ETCD_INITIAL_CLUSTER_TOKEN: `${PATRONI_SCOPE}-db-etcd`,
    ETCD_HEARTBEAT_INTERVAL: String(ETCD_TIMING.heartbeatMs),
    ETCD_ELECTION_TIMEOUT: String(ETCD_TIMING.electionMs),
  };
  const lines = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
  return `# crm-infra (generated): this host's member of the database cluster's etcd (any two of three keep quorum)\n${lines.join("\n")}\n`;
}

function pathsOf(args: PatroniNodeArgs): PatroniPaths {
  const major = args.pgMajor ?? PG_MAJOR;
  return {
    dataDir: `/var/lib/postgresql/${major}/patroni`,
    binDir: `/usr/lib/postgresql/${major}/bin`,
    socketDir: PG_SOCKET_DIR,
    pgpass: "/var/lib/postgresql/.pgpass.patroni",
    pgbackrestConfig: PGBACKREST_CONF,
    ...args.paths,
  };
}

/** Where PostgreSQL lives on a Patroni node: what the backup programs need to know. */
export function patroniLayout(args: PatroniNodeArgs): DbHostLayout {
  const paths = pathsOf(args);
  return {
    mode: "patroni",
    pgBin: paths.binDir,
    pgData: paths.dataDir,
    port: args.port ?? PG_PORT,
    socketDir: paths.socketDir,
    patroni: { config: PATRONI_CONFIG, scope: PATRONI_SCOPE, name: args.name },
  };
}

function validateNode(args: PatroniNodeArgs): void {
  if (!NAME.test(args.name)) throw new Error(`patroni: invalid member name ${JSON.stringify(args.name)}`);
  for (const a of [args.address, ...args.peers, ...args.appClients])
    if (!IPV4.test(a)) throw new Error(`patroni: invalid address ${JSON.stringify(a)}`);
  if (args.peers.length === 0) throw new Error("patroni: a node needs at least one peer (the pair is bbdd and bbdd2)");
  validateEtcdMembers(args.etcd);
  for (const [key, value] of Object.entries(args.secrets))
    if (value.length === 0 || /[\n\r]/.test(value)) throw new Error(`patroni: the ${key} password must be one non-empty line`);
}

/** pg_hba, in the order PostgreSQL reads it: local administration, replication, rewind, then the app. */
export function renderPatroniHba(args: Pick<PatroniNodeArgs, "address" | "peers" | "appClients" | "database" | "user">): string[] {
  const nodes = [args.address, ...args.peers];
  return [
    `local all ${SUPERUSER} peer`,
    ...nodes.map((a) => `host replication ${REPLICATION_USER} ${a}/32 scram-sha-256`),
    // pg_rewind on a returning old primary reads the new one as the superuser.
    ...args.peers.map((a) => `host all ${SUPERUSER} ${a}/32 scram-sha-256`),
    ...args.appClients.map((a) => `host ${args.database} ${args.user} ${a}/32 scram-sha-256`),
  ];
}

/**
 * The node's patroni.yml, as a typed object. Rendered as JSON, which YAML parsers read as YAML: no
 * quoting rule of YAML can be broken by a password.
 */
export function patroniConfig(args: PatroniNodeArgs): Record<string, unknown> {
  validateNode(args);
  const paths = pathsOf(args);
  const port = args.port ?? PG_PORT;
  const rest = `${args.address}:${args.restPort ?? PATRONI_REST_PORT}`;
  return {
    scope: PATRONI_SCOPE,
    namespace: PATRONI_NAMESPACE,
    name: args.name,
    restapi: { listen: rest, connect_address: rest, authentication: { username: REST_USER, password: args.secrets.restApi } },
    etcd3: { hosts: args.etcd.map((m) => `${m.address}:${clientPort(m)}`) },
    bootstrap: {
      // Written to etcd once, when the cluster is first initialized; `patronictl edit-config` after that.
      dcs: {
        ...PATRONI_TIMING,
        // Only a standby that Patroni knows to be synchronous may be promoted automatically.
        synchronous_mode: true,
        // Not strict: with the standby gone the primary goes on alone (docs/database.md: the trade-off).
        synchronous_mode_strict: false,
        synchronous_node_count: 1,
        // A replica more than 1 MiB behind never becomes leader on its own.
        maximum_lag_on_failover: 1048576,
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          parameters: {
            wal_level: "replica",
            hot_standby: "on",
            max_connections: 200,
            max_wal_senders: 10,
            max_replication_slots: 10,
            wal_log_hints: "on",
            wal_keep_size: "256MB",
          },
        },
      },
      initdb: [{ encoding: "UTF8" }, { locale: "C.UTF-8" }, "data-checksums"],
      // Superseded by postgresql.pg_hba, but Patroni 3.0's --validate-config still requires it.
      pg_hba: renderPatroniHba(args),
    },
    postgresql: {
      listen: `${args.address}:${port}`,
      connect_address: `${args.address}:${port}`,
      use_unix_socket: true,
      data_dir: paths.dataDir,
      bin_dir: paths.binDir,
      pgpass: paths.pgpass,
      authentication: {
        superuser: { username: SUPERUSER, password: args.secrets.superuser },
        replication: { username: REPLICATION_USER, password: args.secrets.replication },
        rewind: { username: SUPERUSER, password: args.secrets.superuser },
      },
      parameters: {
        unix_socket_directories: paths.socketDir,
        password_encryption: "scram-sha-256",
        // Continuous archiving from whichever node leads (a standby does not archive: archive_mode on).
        archive_mode: "on",
        archive_command: archiveCommand(paths.pgbackrestConfig),
        archive_timeout: ARCHIVE_TIMEOUT_SECONDS,
      },
      recovery_conf: { restore_command: restoreCommand(paths.pgbackrestConfig) },
      pg_hba: renderPatroniHba(args),
      // A returning old primary that cannot be rewound is cloned again rather than left out.
      remove_data_directory_on_rewind_failure: true,
      remove_data_directory_on_diverged_timelines: true,
    },
    // Containers have no watchdog device; synchronous replication keeps a stale primary's writes unacknowledged.
    watchdog: { mode: "off" },
    tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
  };
}

export function renderPatroniConfig(args: PatroniNodeArgs): string {
  return `# crm-infra (generated): Patroni on ${args.name} (JSON, which is YAML)\n${JSON.stringify(patroniConfig(args), null, 2)}\n`;
}

export interface DbProxyArgs {
  /** The Patroni nodes: name and LAN4 address. */
  readonly nodes: readonly { readonly name: string; readonly address: string }[];
  /** @default PG_PORT */
  readonly pgPort?: number;
  /** Ports that differ per node only in the tests. */
  readonly nodePorts?: Readonly<Record<string, { pg: number; rest: number }>>;
  /** Where the proxy listens. @default DB_PROXY_ADDRESS:PG_PORT */
  readonly listen?: string;
}

/**
 * The stable endpoint: HAProxy on each app server, sending PostgreSQL connections to the one node
 * whose Patroni answers 200 on /primary (only the holder of the leader lock does). A node that stops
 * answering so is marked down after 2 checks 1 s apart and its connections are cut, so clients
 * reconnect to the new primary; DATABASE_URL stays postgres://…@127.0.0.1:5432/crm for good.
 */
export function renderDbProxyConfig(args: DbProxyArgs): string {
  const pgPort = args.pgPort ?? PG_PORT;
  const servers = args.nodes.map((n) => {
    const ports = args.nodePorts?.[n.name] ?? { pg: pgPort, rest: PATRONI_REST_PORT };
    return `  server ${n.name} ${n.address}:${ports.pg} check port ${ports.rest}`;
  });
  return `# crm-infra (generated): the app's database endpoint follows Patroni's leader
global
  maxconn 1000

defaults
  mode tcp
  timeout connect 2s
  # Database sessions idle for long (connection pools): only a dead peer ends them.
  timeout client 30m
  timeout server 30m
  timeout check 2s

listen postgres
  bind ${args.listen ?? `${DB_PROXY_ADDRESS}:${pgPort}`}
  option httpchk
  # OPTIONS: Patroni answers with the status alone (a GET body cut short by HAProxy makes Patroni log a traceback).
  http-check send meth OPTIONS uri /primary
  http-check expect status 200
  default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions
${servers.join("\n")}
`;
}

/** The app servers' part: HAProxy as the database endpoint (add it to the app role before the app starts). */
export function dbProxyStep(args: DbProxyArgs): string {
  return [
    writeFile(DB_PROXY_CONFIG, renderDbProxyConfig(args), { onChange: "systemctl reload-or-restart haproxy.service" }),
    enableNow("haproxy.service"),
  ].join("\n");
}

/** etcd on this host: our settings, our data directory, started without waiting (it needs a second member to serve). */
function etcdStep(args: EtcdArgs): string {
  const dataDir = args.dataDir ?? ETCD_DATA_DIR;
  return [
    `install -d -o etcd -g etcd -m 0700 ${shellQuote(dataDir)}`,
    writeFile(ETCD_ENV, renderEtcdEnv(args), { onChange: "systemctl restart --no-block etcd.service" }),
    `systemctl enable --quiet etcd.service
systemctl is-active --quiet etcd.service || systemctl start --no-block etcd.service`,
  ].join("\n");
}

/** The etcd witness (nas1): one member of the three, nothing else. */
export function etcdWitnessRoleScript(args: EtcdArgs): string {
  return roleScript("etcd witness", etcdStep(args));
}

/** Debian's packaged cluster would take the port and start at boot: Patroni runs PostgreSQL instead. */
function retirePackagedClusterStep(major: number): string {
  const conf = `/etc/postgresql/${major}/main`;
  return `if [ -d ${conf} ]; then
  if [ "$(cat ${conf}/start.conf 2>/dev/null)" != disabled ]; then
    pg_ctlcluster ${major} main stop 2>/dev/null || true
    echo disabled >${conf}/start.conf
    systemctl daemon-reload
  fi
fi`;
}

/**
 * Patroni sets the superuser's and the replication user's passwords only when it creates the
 * cluster; after a change of secrets the leader sets them again, or the standby (whose Patroni
 * already uses the new ones) could not connect. The passwords travel in psql's environment.
 */
export function ensureClusterPasswordsStep(secrets: Pick<DbSecrets, "superuser" | "replication">): string {
  return `CRM_SUPERUSER_PASSWORD=${shellQuote(secrets.superuser)} CRM_REPLICATION_PASSWORD=${shellQuote(secrets.replication)} runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 <<'CRM_SQL'
\\getenv superuser_password CRM_SUPERUSER_PASSWORD
\\getenv replication_password CRM_REPLICATION_PASSWORD
ALTER ROLE ${SUPERUSER} WITH PASSWORD :'superuser_password';
ALTER ROLE ${REPLICATION_USER} WITH PASSWORD :'replication_password';
CRM_SQL`;
}

/**
 * A database node (bbdd, bbdd2): its etcd member, Patroni, pgBackRest. Both run at once; Patroni
 * bootstraps one of them and clones the other from it. On the leader only, the app's user and
 * database are created or updated and the first full backup is taken.
 */
export function patroniNodeRoleScript(args: PatroniNodeArgs, etcd: EtcdArgs): string {
  const paths = pathsOf(args);
  const layout = patroniLayout(args);
  // Over the local socket as postgres (peer): no password involved.
  const psql = `runuser -u postgres -- ${paths.binDir}/psql -X -At -h ${paths.socketDir} -p ${layout.port}`;
  return roleScript(
    `db node ${args.name} (Patroni)`,
    `test -x ${paths.binDir}/postgres || { echo "crm: PostgreSQL ${args.pgMajor ?? PG_MAJOR} is missing from the image (${paths.binDir})" >&2; exit 1; }`,
    retirePackagedClusterStep(args.pgMajor ?? PG_MAJOR),
    etcdStep(etcd),
    ...backupSetupSteps(layout, args.backup),
    `install -d -o postgres -g postgres -m 0700 /etc/patroni
# Patroni's initdb creates the data directory; its parent exists only if the package made a cluster.
install -d -o postgres -g postgres -m 0755 ${shellQuote(paths.dataDir.replace(/\/[^/]+$/, ""))}`,
    // Holds every password of the cluster: postgres only.
    writeFile(PATRONI_CONFIG, renderPatroniConfig(args), {
      mode: "0600",
      onChange: `chown postgres:postgres ${PATRONI_CONFIG}; systemctl reload patroni.service 2>/dev/null || true`,
    }),
    enableNow("patroni.service"),
    `crm_pg_recovery() { ${psql} -c 'select pg_is_in_recovery()' 2>/dev/null; }
crm_retry 300 "PostgreSQL to run under Patroni (as leader or standby)" crm_pg_recovery >/dev/null
if [ "$(crm_pg_recovery)" = f ]; then
# A new leader's PostgreSQL answers before Patroni's bootstrap has made its roles: wait for them.
crm_patroni_roles() { [ "$(${psql} -c "select count(*) from pg_roles where rolname = '${REPLICATION_USER}'" 2>/dev/null)" = 1 ]; }
crm_retry 60 "Patroni to finish bootstrapping (the ${REPLICATION_USER} role)" crm_patroni_roles`,
    ensureAppDatabaseStep({ database: args.database, user: args.user, password: args.secrets.app }),
    ensureClusterPasswordsStep(args.secrets),
    firstBackupStep(),
    `fi`,
  );
}
