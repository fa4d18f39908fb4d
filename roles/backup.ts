/**
 * Backups of the CRM's database with pgBackRest (issue 11, part 2): continuous WAL archiving, a
 * full backup at deploy and on a schedule, a retention counted in full backups, and the operator
 * programs `crm-db-backup` (back up now, list) and `crm-db-restore --to TIME` (point-in-time).
 *
 * The same pieces serve the Patroni pair and the single database; only {@link DbHostLayout.mode}
 * differs (who starts and stops PostgreSQL during a restore).
 *
 * The repository is a GlusterFS volume of its own on the storage hosts (see docs/database.md):
 * it survives the loss of both database hosts and of any one storage host, and only the database
 * hosts may mount it, whereas the uploads volume is mounted by every app server.
 */
import { PG_PORT } from "../topology/plan";
import { dbSteps, type DbArgs } from "./db";
import { roleFile } from "./files";
import { renderGlusterMountUnit, type GlusterVolumeArgs } from "./nas";
import { enableNow, roleScript, shellQuote, systemdUnit, writeFile } from "./script";

export const STANZA = "crm";
/** Debian's package of pgBackRest. */
export const BACKUP_PACKAGE = "pgbackrest";
/** Where the database hosts mount the repository volume. */
export const REPO_MOUNT = "/var/lib/pgbackrest";
/** The repository volume on the storage hosts, and its brick directory there. */
export const REPO_VOLUME = "pgbackrest";
/**
 * Beside the uploads brick (/nas): glusterd makes a brick's directory when the volume is created,
 * but not its parents (a brick under /srv/gluster failed with "No such file or directory" on LXC).
 */
export const REPO_BRICK = "/pgbackrest";
export const PGBACKREST_CONF = "/etc/pgbackrest/pgbackrest.conf";
/** The header the operator programs read: where PostgreSQL lives and how it is run on this host. */
const DB_ENV = "/etc/crm/db.env";
export const BACKUP_PROGRAM = "/usr/local/sbin/crm-db-backup";
const RESTORE_PROGRAM = "/usr/local/sbin/crm-db-restore";
/** Scheduled backups: a full one every Sunday night, a differential one on the other nights (Mon–Sat). */
export const BACKUP_SCHEDULE: Readonly<Record<"full" | "diff", string>> = {
  full: "Sun *-*-* 01:30:00",
  diff: "Mon..Sat *-*-* 01:30:00",
};
/**
 * Seconds after which PostgreSQL archives a WAL segment even if it is not full: on the single
 * server, where the archive is the only other copy, the most a lost host takes with it.
 */
export const ARCHIVE_TIMEOUT_SECONDS = 60;

/** PostgreSQL's major version in the image (Debian 13). */
export const PG_MAJOR = 17;
/** Where Debian's PostgreSQL puts its sockets. */
export const PG_SOCKET_DIR = "/var/run/postgresql";

/** Where PostgreSQL lives on a database host, and who runs it. */
export interface DbHostLayout {
  /** `patroni`: Patroni runs PostgreSQL (the pair); `systemd`: Debian's cluster unit; `pg_ctl`: started by hand (tests). */
  readonly mode: "patroni" | "systemd" | "pg_ctl";
  readonly pgBin: string;
  readonly pgData: string;
  readonly port: number;
  readonly socketDir: string;
  /** Patroni's configuration file, cluster (scope) and this node's member name (mode `patroni`). */
  readonly patroni?: { readonly config: string; readonly scope: string; readonly name: string };
  /** The systemd unit of the cluster (mode `systemd`), e.g. postgresql@17-main. */
  readonly unit?: string;
}

export interface BackupArgs {
  /** Full backups to keep (crm:backupRetention); the differential ones and WAL follow them out. */
  readonly retentionFull: number;
  /** The repository directory. @default REPO_MOUNT */
  readonly repoPath?: string;
  /** pgBackRest's log and lock directories (only the tests move them). @default Debian's */
  readonly logPath?: string;
  readonly lockPath?: string;
  /** The storage hosts serving the repository volume; the host mounts it from them. Absent: repoPath is a plain directory (tests). */
  readonly repoServers?: readonly string[];
  /** When Nagios runs: NRPE on this host answers the backup-age check. @default no NRPE */
  readonly monitoring?: BackupMonitoring;
}

export interface BackupMonitoring {
  /** This host's LAN4 address: NRPE listens there only. */
  readonly listen: string;
  /** The Nagios host's LAN4 address: the only one NRPE answers. */
  readonly nagios: string;
}

const BACKUP_STATUS = "/var/lib/crm-infra/db-backup.status";
/** Debian packages of the backup-age check: NRPE on the database hosts, its client on the Nagios host. */
export const NRPE_PACKAGE = "nagios-nrpe-server";
export const NRPE_PLUGIN_PACKAGE = "nagios-nrpe-plugin";
const BACKUP_AGE_PLUGIN = "/usr/local/lib/nagios/plugins/check_crm_backup_age";
/** The NRPE command Nagios asks for (see roles/monitor.ts). */
export const BACKUP_AGE_NRPE_COMMAND = "crm_backup_age";
/** Hours: the nightly backup with slack, then two nights missed. */
const BACKUP_AGE_HOURS = { warning: 26, critical: 50 } as const;

/**
 * The repository volume, formed like the uploads volume (glusterFormationScript on the first
 * storage host) but mountable by the database hosts only.
 */
export function repoVolumeArgs(storageServers: readonly string[], dbHosts: readonly string[]): GlusterVolumeArgs {
  return { volume: REPO_VOLUME, servers: storageServers, brick: REPO_BRICK, clients: dbHosts };
}

/** A retention below one full backup would let pgBackRest expire the only restorable backup. */
export function validateRetention(retentionFull: number): void {
  if (!Number.isInteger(retentionFull) || retentionFull < 1 || retentionFull > 9999)
    throw new Error(`backup retention must be a whole number of full backups between 1 and 9999, got ${retentionFull}`);
}

/** pgBackRest's configuration: one repository, one stanza for the local cluster. */
export function renderPgBackRestConf(layout: DbHostLayout, args: BackupArgs): string {
  validateRetention(args.retentionFull);
  const global = [
    `repo1-path=${args.repoPath ?? REPO_MOUNT}`,
    // Counted in full backups: with N kept, any time since the oldest one's end can be restored.
    `repo1-retention-full-type=count`,
    `repo1-retention-full=${args.retentionFull}`,
    // Backups start at once (an immediate checkpoint) rather than at the next scheduled one.
    `start-fast=y`,
    // Compressed WAL and backups: the repository is a network volume.
    `compress-type=gz`,
    `log-level-console=info`,
    `log-level-file=detail`,
    ...(args.logPath ? [`log-path=${args.logPath}`] : []),
    ...(args.lockPath ? [`lock-path=${args.lockPath}`] : []),
  ];
  const stanza = [`pg1-path=${layout.pgData}`, `pg1-port=${layout.port}`, `pg1-socket-path=${layout.socketDir}`];
  return `# crm-infra (generated): backups of the CRM database (docs/database.md)\n[global]\n${global.join("\n")}\n\n[${STANZA}]\n${stanza.join("\n")}\n`;
}

/** The archive_command PostgreSQL runs for every finished WAL segment. */
export function archiveCommand(configPath = PGBACKREST_CONF): string {
  return `pgbackrest --config=${configPath} --stanza=${STANZA} archive-push %p`;
}

/** The replicas' restore_command: a standby that fell behind the primary's WAL fetches it from the archive. */
export function restoreCommand(configPath = PGBACKREST_CONF): string {
  return `pgbackrest --config=${configPath} --stanza=${STANZA} archive-get %f "%p"`;
}

/** The header the operator programs source (shell assignments, values quoted). */
export function renderDbEnv(layout: DbHostLayout, configPath = PGBACKREST_CONF): string {
  const values: Record<string, string> = {
    CRM_PG_MODE: layout.mode,
    CRM_PG_BIN: layout.pgBin,
    CRM_PG_DATA: layout.pgData,
    CRM_PG_PORT: String(layout.port),
    CRM_PG_SOCKET: layout.socketDir,
    CRM_STANZA: STANZA,
    CRM_PGBACKREST_CONF: configPath,
    CRM_PATRONI_CONFIG: layout.patroni?.config ?? "",
    CRM_PATRONI_SCOPE: layout.patroni?.scope ?? "",
    CRM_PATRONI_NAME: layout.patroni?.name ?? "",
    CRM_PG_UNIT: layout.unit ?? "",
  };
  if (layout.mode === "patroni" && !layout.patroni) throw new Error("a Patroni host needs its Patroni configuration, scope and name");
  if (layout.mode === "systemd" && !layout.unit) throw new Error("a systemd-run database needs its unit name");
  const lines = Object.entries(values).map(([k, v]) => `${k}=${shellQuote(v)}`);
  return `# crm-infra (generated): read by crm-db-backup and crm-db-restore\n${lines.join("\n")}\n`;
}

type BackupKind = keyof typeof BACKUP_SCHEDULE;
/** The timer of one scheduled backup, and the instance of the unit template it starts. */
export const backupTimerUnit = (kind: BackupKind): string => `crm-db-backup-${kind}.timer`;
export const backupServiceUnit = (kind: BackupKind): string => `crm-db-backup@${kind}.service`;

/** A unit template run by the timers: `crm-db-backup@full` and `crm-db-backup@diff`. */
export function renderBackupService(): string {
  return systemdUnit({
    Unit: { Description: "crm: %i backup of the CRM database (pgBackRest)", After: "network-online.target" },
    // --scheduled: on a standby it is not an error, the primary's timer does the work.
    Service: { Type: "oneshot", ExecStart: `${BACKUP_PROGRAM} %i --scheduled` },
  });
}

export function renderBackupTimer(kind: BackupKind): string {
  return systemdUnit({
    Unit: { Description: `crm: scheduled ${kind} backup of the CRM database` },
    // Persistent: a host that was down at the scheduled time backs up when it comes back.
    Timer: { OnCalendar: BACKUP_SCHEDULE[kind], Persistent: "true", RandomizedDelaySec: "10min", Unit: backupServiceUnit(kind) },
    Install: { WantedBy: "timers.target" },
  });
}

/**
 * Mounts the repository volume, retrying until the storage hosts answer (as the uploads mount
 * does on the app servers), then leaves the directory to postgres alone.
 */
export function renderRepoMountUnit(servers: readonly string[]): string {
  return renderGlusterMountUnit({
    description: "mount the backup repository volume",
    mountpoint: REPO_MOUNT,
    volume: REPO_VOLUME,
    servers,
    // A database host made before it had backups may lack the FUSE device node (LXC allows the
    // device in every container, but binds it only into those made for a Gluster mount).
    makeFuseDevice: true,
  });
}

/** Everything but the first backup: repository, configuration, the two programs, the timers. */
export function backupSetupSteps(layout: DbHostLayout, args: BackupArgs): string[] {
  const repo = args.repoPath ?? REPO_MOUNT;
  const mount = args.repoServers
    ? [
        `mkdir -p ${REPO_MOUNT}`,
        writeFile("/etc/systemd/system/crm-pgbackrest-repo.service", renderRepoMountUnit(args.repoServers), {
          onChange: "systemctl daemon-reload",
        }),
        // Started without waiting (the unit retries for ever): the role gives up after 120 s with a message.
        `systemctl enable --quiet crm-pgbackrest-repo.service
systemctl start --no-block crm-pgbackrest-repo.service`,
        `crm_retry 120 "the backup repository volume" mountpoint -q ${REPO_MOUNT}`,
      ]
    : [];
  const timers = (["full", "diff"] as const).flatMap((kind) => [
    writeFile(`/etc/systemd/system/${backupTimerUnit(kind)}`, renderBackupTimer(kind), { onChange: "systemctl daemon-reload" }),
    enableNow(backupTimerUnit(kind)),
  ]);
  return [
    ...mount,
    // The repository holds every row of the database: postgres only.
    `install -d -o postgres -g postgres -m 0750 ${shellQuote(repo)}`,
    `install -d -o postgres -g postgres -m 0770 /var/log/pgbackrest`,
    writeFile(PGBACKREST_CONF, renderPgBackRestConf(layout, args), {
      mode: "0640",
      onChange: `chown root:postgres ${PGBACKREST_CONF}`,
    }),
    writeFile(DB_ENV, renderDbEnv(layout)),
    writeFile(BACKUP_PROGRAM, roleFile("crm-db-backup"), { mode: "0755" }),
    writeFile(RESTORE_PROGRAM, roleFile("crm-db-restore"), { mode: "0755" }),
    writeFile("/etc/systemd/system/crm-db-backup@.service", renderBackupService(), { onChange: "systemctl daemon-reload" }),
    ...timers,
    ...(args.monitoring ? backupMonitoringSteps(args.monitoring) : []),
  ];
}

/**
 * Run on the primary once PostgreSQL archives: creates the stanza (idempotent) and takes the
 * deploy's full backup unless the repository already holds one, so a second run changes nothing.
 */
export function firstBackupStep(program = BACKUP_PROGRAM): string {
  return `${program} init`;
}

/** PostgreSQL settings for archiving on the single server (Patroni sets the same ones on the pair). */
export function renderArchiveConf(configPath = PGBACKREST_CONF): string {
  return `# crm-infra (generated): continuous WAL archiving to the backup repository
archive_mode = on
archive_command = '${archiveCommand(configPath)}'
archive_timeout = ${ARCHIVE_TIMEOUT_SECONDS}
`;
}

/** Debian's packaged cluster, run by systemd: the single database host. */
function singleDbLayout(pgMajor = PG_MAJOR): DbHostLayout {
  return {
    mode: "systemd",
    pgBin: `/usr/lib/postgresql/${pgMajor}/bin`,
    pgData: `/var/lib/postgresql/${pgMajor}/main`,
    port: PG_PORT,
    socketDir: PG_SOCKET_DIR,
    unit: `postgresql@${pgMajor}-main`,
  };
}

/**
 * The single database host (no standby) with backups: the plain server of roles/db.ts, then the
 * repository and programs, archiving (a restart when it is first turned on) and the first full backup.
 */
export function backedUpDbRoleScript(db: DbArgs, backup: BackupArgs, pgMajor = PG_MAJOR): string {
  return roleScript(
    "db",
    ...dbSteps(db),
    ...backupSetupSteps(singleDbLayout(pgMajor), backup),
    writeFile("$PG_ETC/conf.d/crm-archive.conf", renderArchiveConf(), { onChange: "systemctl restart postgresql" }),
    `crm_retry 60 "PostgreSQL to accept connections" runuser -u postgres -- pg_isready -q`,
    firstBackupStep(),
  );
}

/** NRPE's extra configuration on a database host: one command, one listening address, one client. */
export function renderNrpeConf(monitoring: BackupMonitoring, plugin = BACKUP_AGE_PLUGIN): string {
  const { warning, critical } = BACKUP_AGE_HOURS;
  return `# crm-infra (generated): Nagios (${monitoring.nagios}) asks this host for the age of the newest backup
server_address=${monitoring.listen}
allowed_hosts=${monitoring.nagios}
command[${BACKUP_AGE_NRPE_COMMAND}]=${plugin} -w ${warning} -c ${critical} -f ${BACKUP_STATUS}
`;
}

/** Every 5 minutes, root records the newest backup's end for the plugin (NRPE's user cannot read the repository). */
export function renderBackupStatusUnits(): { service: string; timer: string } {
  return {
    service: systemdUnit({
      Unit: { Description: "crm: record the newest database backup for Nagios" },
      Service: { Type: "oneshot", Environment: `CRM_BACKUP_STATUS=${BACKUP_STATUS}`, ExecStart: `${BACKUP_PROGRAM} status-file` },
    }),
    timer: systemdUnit({
      Unit: { Description: "crm: record the newest database backup for Nagios, every 5 minutes" },
      Timer: { OnBootSec: "1min", OnUnitActiveSec: "5min" },
      Install: { WantedBy: "timers.target" },
    }),
  };
}

/** The backup-age check's host side: the status timer, the plugin, NRPE. */
function backupMonitoringSteps(monitoring: BackupMonitoring): string[] {
  const units = renderBackupStatusUnits();
  return [
    writeFile("/etc/systemd/system/crm-db-backup-status.service", units.service, { onChange: "systemctl daemon-reload" }),
    writeFile("/etc/systemd/system/crm-db-backup-status.timer", units.timer, { onChange: "systemctl daemon-reload" }),
    enableNow("crm-db-backup-status.timer"),
    // Once now, so the check has a status from the start.
    `CRM_BACKUP_STATUS=${BACKUP_STATUS} ${BACKUP_PROGRAM} status-file || true`,
    writeFile(BACKUP_AGE_PLUGIN, roleFile("check_crm_backup_age"), { mode: "0755" }),
    writeFile("/etc/nagios/nrpe.d/crm.cfg", renderNrpeConf(monitoring), { onChange: "systemctl restart nagios-nrpe-server.service" }),
    enableNow("nagios-nrpe-server.service"),
  ];
}
