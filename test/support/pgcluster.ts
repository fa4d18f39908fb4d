/**
 * Throw-away PostgreSQL clusters on 127.0.0.1 for the replication tests, laid out like Debian's
 * (configuration outside the data directory), driven by the very `crm-pg-ha` program the hosts
 * run: only where PostgreSQL lives and how it starts (pg_ctl, not systemd) come from the environment.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { renderPgHba } from "../../roles/db";
import { renderPgHaScript, renderReplicationConf, renderReplicationHba, type ReplicationArgs } from "../../roles/dbReplication";
import { run, type Result } from "./shell";

/** The newest PostgreSQL server binaries on this machine, if any. */
export function pgBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!fs.existsSync(root)) return undefined;
  const majors = fs
    .readdirSync(root)
    .filter((m) => fs.existsSync(path.join(root, m, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return majors.length ? path.join(root, majors[0], "bin") : undefined;
}

export interface PgNode {
  readonly label: string;
  readonly args: ReplicationArgs;
  readonly port: number;
  readonly data: string;
  readonly etc: string;
  readonly socket: string;
  /** The rendered crm-pg-ha program. */
  readonly ha: string;
  readonly env: NodeJS.ProcessEnv;
}

function chownPostgres(...paths: string[]): void {
  const r = run("chown", ["-R", "postgres:postgres", ...paths]);
  if (r.status !== 0) throw new Error(r.stderr);
}

/** A node's files: configuration (as on Debian: data_directory points at the data), the crm-pg-ha program, an empty data path. */
export function makeNode(root: string, label: string, args: ReplicationArgs, pgBin: string, pgpass: string): PgNode {
  const dir = path.join(root, label);
  const etc = path.join(dir, "etc");
  const socket = path.join(dir, "run");
  const data = path.join(dir, "data");
  const port = args.port!;
  fs.mkdirSync(etc, { recursive: true });
  fs.mkdirSync(socket, { recursive: true });
  fs.writeFileSync(
    path.join(etc, "postgresql.conf"),
    [
      `data_directory = '${data}'`,
      `hba_file = '${etc}/pg_hba.conf'`,
      `port = ${port}`,
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${socket}'`,
      `fsync = on`,
      `include = 'crm-replication.conf'`,
      "",
    ].join("\n"),
  );
  fs.writeFileSync(path.join(etc, "crm-replication.conf"), renderReplicationConf(args));
  const hba = renderPgHba({ clients: args.appClients, database: args.database, user: args.user }) + renderReplicationHba(args);
  fs.writeFileSync(path.join(etc, "pg_hba.conf"), hba);
  const ha = path.join(dir, "crm-pg-ha");
  fs.writeFileSync(ha, renderPgHaScript(args), { mode: 0o755 });
  chownPostgres(dir);
  const env = {
    ...process.env,
    PATH: `${pgBin}:${process.env.PATH}`,
    CRM_PG_BIN: pgBin,
    CRM_PG_DATA: data,
    CRM_PG_CONFDIR: etc,
    CRM_PG_SOCKET: socket,
    CRM_PG_SERVICE: "",
    CRM_PG_LOG: path.join(etc, "server.log"),
    CRM_STATE_DIR: path.join(dir, "state"),
    PGPASSFILE: pgpass,
    // For the role script's own psql steps (roles/db.ts's and the replication user's).
    PGHOST: socket,
    PGPORT: String(port),
  };
  return { label, args, port, data, etc, socket, ha, env };
}

/** A new empty cluster in the node's data directory, as the Debian package would have made it. */
export function initdb(node: PgNode, pgBin: string): void {
  const r = run("runuser", [
    "-u",
    "postgres",
    "--",
    path.join(pgBin, "initdb"),
    "-D",
    node.data,
    "-U",
    "postgres",
    "--auth-local=peer",
    "--auth-host=trust",
    "-E",
    "UTF8",
  ]);
  if (r.status !== 0) throw new Error(r.stdout + r.stderr);
}

/** Runs a crm-pg-ha subcommand on the node, as the hosts do. */
export function ha(node: PgNode, ...subcommand: string[]): Result {
  return run("bash", [node.ha, ...subcommand], { env: node.env });
}

/** Runs a bash script (e.g. a role step) with the node's environment. */
export function bashOn(node: PgNode, script: string): Result {
  return run("bash", ["-s"], { input: script, env: node.env });
}

/** One SQL statement as the postgres superuser over the local socket; returns psql's unaligned output. */
export function sql(node: PgNode, statement: string, database = "postgres"): string {
  const r = run("runuser", ["-u", "postgres", "--", "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", statement], {
    env: node.env,
  });
  if (r.status !== 0) throw new Error(`${node.label}: ${statement}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Stops the node's postmaster at once (a crash, as far as the data is concerned); no-op when it is down. */
export function stopImmediate(node: PgNode, pgBin: string): void {
  if (!fs.existsSync(path.join(node.data, "postmaster.pid"))) return;
  run("runuser", ["-u", "postgres", "--", path.join(pgBin, "pg_ctl"), "-D", node.data, "-m", "immediate", "-w", "stop"]);
}

/** `crm-pg-ha watch` in the background, as its systemd unit runs it; stop it with the returned child's PID. */
export function startWatch(node: PgNode): ChildProcess {
  const child = spawn("bash", [node.ha, "watch"], { env: node.env, stdio: "ignore" });
  return child;
}
