/**
 * A real Patroni cluster on this machine, without containers: three etcd members, two Patroni
 * nodes and the app servers' HAProxy, all on 127.0.0.1 ports, every file rendered by roles/patroni.ts
 * and roles/backup.ts. Only paths and ports differ from the hosts (temporary directories, free ports).
 * "Losing a host" kills that host's etcd, Patroni and PostgreSQL at once with SIGKILL.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { renderDbEnv, renderPgBackRestConf, type BackupArgs, type DbHostLayout } from "../../roles/backup";
import {
  patroniLayout,
  renderDbProxyConfig,
  renderEtcdEnv,
  renderPatroniConfig,
  type DbSecrets,
  type EtcdMember,
  type PatroniNodeArgs,
} from "../../roles/patroni";
import { freePort, run, type Result } from "./shell";

export const ROLE_FILES = path.join(__dirname, "..", "..", "roles", "files");

export interface EtcdNode {
  readonly member: EtcdMember;
  readonly env: Record<string, string>;
  child?: ChildProcess;
}

export interface PatroniNode {
  readonly name: string;
  readonly args: PatroniNodeArgs;
  readonly dir: string;
  readonly config: string;
  readonly layout: DbHostLayout;
  /** The header the operator programs read (CRM_DB_ENV). */
  readonly dbEnv: string;
  child?: ChildProcess;
}

/** Reads a systemd EnvironmentFile (KEY=value lines) into an environment. */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  return env;
}

export async function waitFor<T>(what: string, seconds: number, probe: () => T | undefined | false): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  for (;;) {
    let value: T | undefined | false;
    try {
      value = probe();
    } catch {
      value = undefined;
    }
    if (value !== undefined && value !== false) return { value, ms: Date.now() - start };
    if (Date.now() - start > seconds * 1000) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function chownPostgres(...paths: string[]): void {
  const r = run("chown", ["-R", "postgres:postgres", ...paths]);
  if (r.status !== 0) throw new Error(r.stderr);
}

/**
 * Starts a program as postgres (setpriv execs it, so the child's PID is the program's own), in DIR:
 * the checkout may sit in a directory postgres may not enter (root's home is 0700), and Patroni
 * started there never elects a leader.
 */
function spawnAsPostgres(command: string, args: string[], dir: string, log: string, env: NodeJS.ProcessEnv): ChildProcess {
  const out = fs.openSync(log, "a");
  const child = spawn("setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", command, ...args], {
    cwd: dir,
    env,
    stdio: ["ignore", out, out],
  });
  fs.closeSync(out);
  return child;
}

export class LocalPatroniCluster {
  readonly etcd: EtcdNode[] = [];
  readonly nodes: PatroniNode[] = [];
  proxyPort = 0;
  private proxy?: ChildProcess;

  constructor(
    readonly root: string,
    readonly pgBin: string,
    readonly secrets: DbSecrets,
    readonly backup: BackupArgs,
  ) {}

  /** Renders every file and starts etcd, both Patroni nodes and the proxy. */
  async start(names: readonly string[], witness: string): Promise<void> {
    const members: EtcdMember[] = [];
    for (const name of [...names, witness])
      members.push({ name, address: "127.0.0.1", clientPort: await freePort(), peerPort: await freePort() });
    for (const member of members) {
      const dataDir = path.join(this.root, `etcd-${member.name}`);
      const env = parseEnvFile(renderEtcdEnv({ self: member.name, members, dataDir }));
      this.etcd.push({ member, env });
    }
    for (const e of this.etcd) this.startEtcd(e);

    const ports: Record<string, { pg: number; rest: number }> = {};
    for (const name of names) ports[name] = { pg: await freePort(), rest: await freePort() };
    for (const name of names) {
      const dir = path.join(this.root, name);
      fs.mkdirSync(path.join(dir, "run"), { recursive: true });
      fs.mkdirSync(path.join(dir, "log"), { recursive: true });
      const pgbackrestConfig = path.join(dir, "pgbackrest.conf");
      const args: PatroniNodeArgs = {
        name,
        address: "127.0.0.1",
        peers: ["127.0.0.1"],
        etcd: members,
        appClients: ["127.0.0.1"],
        database: "crm",
        user: "crm",
        secrets: this.secrets,
        backup: this.backup,
        port: ports[name].pg,
        restPort: ports[name].rest,
        paths: {
          dataDir: path.join(dir, "data"),
          binDir: this.pgBin,
          socketDir: path.join(dir, "run"),
          pgpass: path.join(dir, "pgpass"),
          pgbackrestConfig,
        },
      };
      const config = path.join(dir, "patroni.yml");
      fs.writeFileSync(config, renderPatroniConfig(args), { mode: 0o600 });
      const base = patroniLayout(args);
      const layout: DbHostLayout = { ...base, patroni: { ...base.patroni!, config } };
      const backup = { ...this.backup, logPath: path.join(dir, "log"), lockPath: path.join(dir, "lock") };
      fs.writeFileSync(pgbackrestConfig, renderPgBackRestConf(layout, backup));
      const dbEnv = path.join(dir, "db.env");
      fs.writeFileSync(dbEnv, renderDbEnv(layout, pgbackrestConfig));
      chownPostgres(dir);
      this.nodes.push({ name, args, dir, config, layout, dbEnv });
    }
    if (this.backup.repoPath) {
      fs.mkdirSync(this.backup.repoPath, { recursive: true, mode: 0o750 });
      chownPostgres(this.backup.repoPath);
    }
    for (const n of this.nodes) this.startPatroni(n);

    this.proxyPort = await freePort();
    const proxyConfig = path.join(this.root, "haproxy.cfg");
    const nodes = this.nodes.map((n) => ({ name: n.name, address: "127.0.0.1" }));
    fs.writeFileSync(proxyConfig, renderDbProxyConfig({ nodes, nodePorts: ports, listen: `127.0.0.1:${this.proxyPort}` }));
    const log = fs.openSync(path.join(this.root, "haproxy.log"), "a");
    this.proxy = spawn("haproxy", ["-db", "-f", proxyConfig], { stdio: ["ignore", log, log] });
    fs.closeSync(log);
  }

  startEtcd(e: EtcdNode): void {
    const log = fs.openSync(path.join(this.root, `etcd-${e.member.name}.log`), "a");
    e.child = spawn("etcd", [], { env: { ...process.env, ...e.env }, stdio: ["ignore", log, log] });
    fs.closeSync(log);
  }

  startPatroni(n: PatroniNode): void {
    const env = { PATH: `${this.pgBin}:${process.env.PATH}`, HOME: n.dir, LANG: "C.UTF-8" };
    n.child = spawnAsPostgres("patroni", [n.config], n.dir, path.join(n.dir, "patroni.log"), env);
  }

  node(name: string): PatroniNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** `patronictl list` as name → { role, state, lag }. */
  members(): Record<string, { role: string; state: string; lag: unknown; tl: unknown }> {
    const r = this.patronictl("list", "-f", "json");
    if (r.status !== 0) throw new Error(r.stderr);
    const out: Record<string, { role: string; state: string; lag: unknown; tl: unknown }> = {};
    for (const m of JSON.parse(r.stdout) as Record<string, unknown>[])
      out[String(m.Member)] = { role: String(m.Role), state: String(m.State), lag: m["Lag in MB"], tl: m.TL };
    return out;
  }

  leader(): string | undefined {
    const leaders = Object.entries(this.members()).filter(([, m]) => m.role === "Leader" && m.state === "running");
    return leaders.length === 1 ? leaders[0][0] : undefined;
  }

  patronictl(...args: string[]): Result {
    return run("patronictl", ["-c", this.nodes[0].config, ...args]);
  }

  /** SQL as postgres over a node's socket; throws on error. */
  sql(name: string, statement: string, database = "postgres"): string {
    const n = this.node(name);
    const r = run(
      "runuser",
      ["-u", "postgres", "--", path.join(this.pgBin, "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", statement],
      { env: { ...process.env, PGHOST: n.layout.socketDir, PGPORT: String(n.layout.port) } },
    );
    if (r.status !== 0) throw new Error(`${name}: ${statement}: ${r.stderr}`);
    return r.stdout.trim();
  }

  /** The app's view: SQL through the proxy as the app user, with its password. */
  appSql(statement: string): Result {
    // Bounded: a commit waiting for a synchronous standby would otherwise block the test run for good.
    return run("timeout", ["60", path.join(this.pgBin, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", statement], {
      env: this.appEnv(),
    });
  }

  appEnv(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PGHOST: "127.0.0.1",
      PGPORT: String(this.proxyPort),
      PGUSER: "crm",
      PGDATABASE: "crm",
      PGPASSWORD: this.secrets.app,
      PGCONNECT_TIMEOUT: "2",
    };
  }

  /** Runs an operator program (roles/files) on a node, as root with the node's header. */
  operator(name: string, program: string, ...args: string[]): Result {
    const n = this.node(name);
    return run("timeout", ["300", path.join(ROLE_FILES, program), ...args], {
      env: { ...process.env, PATH: `${this.pgBin}:${process.env.PATH}`, CRM_DB_ENV: n.dbEnv },
    });
  }

  /** Environment for a role step run on the node (psql over its socket). */
  roleEnv(name: string): NodeJS.ProcessEnv {
    const n = this.node(name);
    return {
      ...process.env,
      PATH: `${this.pgBin}:${process.env.PATH}`,
      PGHOST: n.layout.socketDir,
      PGPORT: String(n.layout.port),
      CRM_DB_ENV: n.dbEnv,
    };
  }

  /** The running postmaster of a node: its pid file's PID, only while that process still runs on this data directory. */
  postmasterPid(name: string): number | undefined {
    const data = this.node(name).layout.pgData;
    const file = path.join(data, "postmaster.pid");
    if (!fs.existsSync(file)) return undefined;
    const pid = Number(fs.readFileSync(file, "utf8").split("\n")[0]);
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(data) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** The host is lost: its etcd member, Patroni and PostgreSQL die at once. */
  crashHost(name: string): void {
    const n = this.node(name);
    const pg = this.postmasterPid(name);
    killChild(n.child);
    killPid(pg);
    killChild(this.etcd.find((e) => e.member.name === name)?.child);
  }

  /** The host comes back: its etcd member and Patroni start again (Patroni starts PostgreSQL). */
  restartHost(name: string): void {
    const e = this.etcd.find((x) => x.member.name === name);
    if (e) this.startEtcd(e);
    this.startPatroni(this.node(name));
  }

  /** Stops everything this cluster started, by PID. */
  stop(): void {
    killChild(this.proxy);
    for (const n of this.nodes) {
      const pg = this.postmasterPid(n.name);
      killChild(n.child);
      // Its backends notice the postmaster's death and exit.
      killPid(pg);
    }
    for (const e of this.etcd) killChild(e.child);
  }
}

/** Kills a child this test started, unless it has already exited (its PID may belong to someone else by then). */
function killChild(child: ChildProcess | undefined): void {
  if (child && child.exitCode === null && child.signalCode === null) killPid(child.pid);
}

function killPid(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}
