import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  DB_VIP,
  nodeName,
  renderKeepalivedConf,
  renderPgHaScript,
  renderPgPass,
  renderReplicationConf,
  renderReplicationHba,
  replicatedDbRoleScript,
  primarySetupSteps,
  HA_SCRIPT_PATH,
  type ReplicationArgs,
} from "../../roles/dbReplication";
import { roleScript } from "../../roles/script";
import { bashOn, ha, initdb, makeNode, pgBinDir, sql, startWatch, stopImmediate, type PgNode } from "../support/pgcluster";
import { freePort, hasCommand, run, tempDir } from "../support/shell";

const APP_PASSWORD = `app'pw "x" $HOME`;
const REPL_PASSWORD = `r3pl:'pw' \\ $(id) "q"`;

const bbdd: ReplicationArgs = {
  self: "10.1.4.31",
  peer: "10.1.4.32",
  vip: DB_VIP,
  appClients: ["10.1.4.11", "10.1.4.12", "10.1.4.13"],
  database: "crm",
  user: "crm",
  password: APP_PASSWORD,
  replicationPassword: REPL_PASSWORD,
  preferredPrimary: true,
};
const bbdd2: ReplicationArgs = { ...bbdd, self: bbdd.peer, peer: bbdd.self, preferredPrimary: false };

describe("database pair: rendered configuration", () => {
  it("puts the VIP under VRRP on both nodes, held only where the health check passes (a primary), never preempting", () => {
    for (const args of [bbdd, bbdd2]) {
      const conf = renderKeepalivedConf(args);
      assert.match(conf, /state BACKUP/);
      assert.doesNotMatch(conf, /state MASTER/);
      assert.match(conf, /\bnopreempt\b/);
      assert.match(conf, /advert_int 1/);
      assert.match(conf, new RegExp(`unicast_src_ip ${args.self.replace(/\./g, "\\.")}`));
      assert.match(conf, new RegExp(`unicast_peer \\{\\s*${args.peer.replace(/\./g, "\\.")}\\s*\\}`));
      assert.match(conf, /10\.1\.4\.30\/24 dev eth0/);
      assert.match(conf, /track_script \{\s*crm_pg_primary\s*\}/);
      // No weight: a failing check means FAULT (the VIP goes), not a lower priority that nopreempt would ignore.
      assert.doesNotMatch(conf, /weight/);
      assert.match(conf, new RegExp(`notify_master "${HA_SCRIPT_PATH} promote"`));
    }
    assert.match(renderKeepalivedConf(bbdd), /priority 100/);
    assert.match(renderKeepalivedConf(bbdd2), /priority 90/);
  });

  it("waits for the other node on commit, and streams from the other node through a slot of its own", () => {
    const conf = renderReplicationConf(bbdd2);
    assert.match(conf, /synchronous_commit = on/);
    assert.match(conf, /synchronous_standby_names = 'ANY 1 \(bbdd\)'/);
    assert.match(renderReplicationConf(bbdd), /synchronous_standby_names = 'ANY 1 \(bbdd2\)'/);
    assert.match(conf, /primary_conninfo = 'host=10\.1\.4\.31 port=5432 user=replicator application_name=bbdd2 /);
    assert.match(conf, /primary_slot_name = 'bbdd2'/);
    assert.match(conf, /wal_log_hints = on/);
  });

  it("lets the replication user in from the peer only", () => {
    for (const args of [bbdd, bbdd2]) {
      const lines = renderReplicationHba(args)
        .split("\n")
        .filter((l) => l && !l.startsWith("#"));
      assert.equal(lines.length, 2);
      for (const l of lines)
        assert.match(
          l,
          new RegExp(`^host\\s+(replication|postgres)\\s+replicator\\s+${args.peer.replace(/\./g, "\\.")}/32\\s+scram-sha-256$`),
        );
    }
  });

  it("puts no password on any command line nor in any file but .pgpass", () => {
    for (const args of [bbdd, bbdd2]) {
      for (const text of [renderKeepalivedConf(args), renderReplicationConf(args), renderReplicationHba(args), renderPgHaScript(args)]) {
        assert.ok(!text.includes("r3pl") && !text.includes("app'pw"));
      }
      const script = replicatedDbRoleScript(args);
      const lines = script.split("\n");
      // Each secret shows up once as a variable assignment in front of `runuser … psql` (its environment), and the
      // replication password once more as the body of the .pgpass heredoc: never as an argument.
      const withSecret = lines.filter((l) => l.includes("r3pl") || l.includes("app'pw") || l.includes("app'\\''pw"));
      assert.equal(withSecret.length, 3, withSecret.join("\n"));
      for (const l of withSecret)
        assert.match(l, /^(CRM_REPL_PASSWORD|CRM_DB_PASSWORD)=\S+.* runuser -u postgres -- psql |^\*:\*:\*:replicator:/);
    }
  });

  it("is a role script bash accepts, that runs the primary's setup only on the primary", () => {
    const script = replicatedDbRoleScript(bbdd);
    const file = path.join(tempDir("dbrepl-syntax"), "role.sh");
    fs.writeFileSync(file, script);
    const r = run("bash", ["-n", file]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      script,
      /CRM_PG_ROLE=\$\(\/usr\/local\/sbin\/crm-pg-ha deploy-role\)\n[^\n]*\nif \[ "\$CRM_PG_ROLE" = primary \]; then\nCRM_REPL_PASSWORD/,
    );
    assert.equal(run("bash", ["-n", "-c", renderPgHaScript(bbdd)]).status, 0);
  });

  it("is a configuration keepalived accepts", function () {
    if (!hasCommand("keepalived")) this.skip();
    const dir = tempDir("keepalived");
    const haPath = path.join(dir, "crm-pg-ha");
    fs.writeFileSync(haPath, renderPgHaScript(bbdd), { mode: 0o755 });
    for (const args of [bbdd, bbdd2]) {
      // The check script must exist for keepalived to keep it: point at a copy of the real one.
      const file = path.join(dir, `${nodeName(args.preferredPrimary)}.conf`);
      fs.writeFileSync(file, renderKeepalivedConf(args).replaceAll(HA_SCRIPT_PATH, haPath));
      const r = run("keepalived", ["-t", "-f", file, "-l"]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
    }
    const broken = path.join(dir, "broken.conf");
    fs.writeFileSync(broken, renderKeepalivedConf(bbdd).replace("advert_int 1", "advert_int one"));
    assert.notEqual(run("keepalived", ["-t", "-f", broken]).status, 0, "keepalived -t must reject a broken file");
  });
});

describe("database pair: two real clusters on loopback, driven by crm-pg-ha", function () {
  this.timeout(180_000);
  const pgBin = pgBinDir();
  let a: PgNode; // starts as the primary (bbdd)
  let b: PgNode; // starts as the standby (bbdd2)
  const watchers: ChildProcess[] = [];
  const timings: Record<string, number> = {};

  function check(node: PgNode): number {
    return ha(node, "check").status;
  }
  async function until(what: string, seconds: number, ok: () => boolean): Promise<number> {
    const start = Date.now();
    while (!ok()) {
      if (Date.now() - start > seconds * 1000) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return Date.now() - start;
  }
  function tryCount(node: PgNode): number {
    try {
      return Number(sql(node, "select count(*) from t", "crm"));
    } catch {
      return -1;
    }
  }

  // Defined before the temporary directory's own clean-up (registered in `before`), so it runs first.
  after(() => {
    for (const w of watchers) if (w.pid && w.exitCode === null) process.kill(w.pid, "SIGTERM");
    for (const node of [a, b]) if (node) stopImmediate(node, pgBin!);
  });

  before(async function () {
    if (!pgBin || !hasCommand("runuser") || process.getuid?.() !== 0) this.skip();
    const root = tempDir("dbrepl");
    fs.chmodSync(root, 0o755);
    const [portA, portB] = [await freePort(), await freePort()];
    const loop = { self: "127.0.0.1", peer: "127.0.0.1", vip: "127.0.0.1", appClients: ["127.0.0.1"] };
    const pgpass = path.join(root, "pgpass");
    // The same .pgpass line the role writes to ~postgres/.pgpass.
    fs.writeFileSync(pgpass, renderPgPass(bbdd), { mode: 0o600 });
    run("chown", ["postgres:postgres", pgpass]);
    a = makeNode(root, "a", { ...bbdd, ...loop, port: portA, peerPort: portB }, pgBin!, pgpass);
    b = makeNode(root, "b", { ...bbdd2, ...loop, port: portB, peerPort: portA }, pgBin!, pgpass);
    initdb(a, pgBin!);
    const started = ha(a, "start");
    assert.equal(started.status, 0, started.stderr);
    watchers.push(startWatch(a), startWatch(b));
  });

  it("the first node sets itself up as the primary (its watch stops a missing standby from blocking the setup)", async () => {
    const role = ha(a, "deploy-role", "10");
    assert.equal(role.stdout.trim(), "primary", role.stderr);
    const t0 = Date.now();
    const setup = bashOn(a, roleScript("primary setup", primarySetupSteps(a.args)));
    timings.primarySetupMs = Date.now() - t0;
    assert.equal(setup.status, 0, setup.stderr);
    assert.equal(sql(a, "select rolreplication from pg_roles where rolname = 'replicator'"), "t");
    assert.equal(sql(a, "select current_setting('synchronous_standby_names')"), "", "degraded while no standby exists");
    sql(a, "create table t (id int primary key)", "crm");
  });

  it("the second node, a fresh package cluster, clones itself with the role's bootstrap and streams synchronously", async () => {
    // As the Debian package leaves it: an unrelated, running, empty cluster (pg_rewind refuses it, so a base backup).
    initdb(b, pgBin!);
    assert.equal(ha(b, "start").status, 0);
    const t0 = Date.now();
    const role = ha(b, "deploy-role", "60");
    timings.standbyBootstrapMs = Date.now() - t0;
    assert.equal(role.status, 0, role.stderr);
    assert.equal(role.stdout.trim(), "standby", role.stderr);
    assert.match(role.stderr, /taking a full copy/);
    assert.ok(fs.existsSync(`${b.data}.crm-previous/PG_VERSION`), "the old data directory is moved aside, not deleted");
    assert.equal(sql(b, "select pg_is_in_recovery()"), "t");
    assert.doesNotMatch(fs.readFileSync(path.join(b.data, "postgresql.auto.conf"), "utf8"), /password|r3pl/);
    // A's watch turns synchronous replication back on once B streams.
    await until(
      "synchronous replication with bbdd2",
      20,
      () => sql(a, "select string_agg(sync_state, ',') from pg_stat_replication") === "quorum",
    );
    assert.equal(sql(a, "select current_setting('synchronous_standby_names')"), "ANY 1 (bbdd2)");
  });

  it("lets only the primary pass keepalived's check", () => {
    assert.equal(check(a), 0, "the primary may hold the VIP");
    assert.equal(check(b), 1, "a standby streaming from a live primary may not");
    assert.equal(ha(b, "promote").status, 1, "notify_master on a standby of a healthy primary does not promote");
    assert.equal(sql(b, "select pg_is_in_recovery()"), "t");
  });

  it("shows a row committed on the primary on the standby", async () => {
    sql(a, "insert into t values (0)", "crm");
    await until("row 0 on the standby", 10, () => sql(b, "select count(*) from t where id = 0", "crm") === "1");
  });

  it("loses no committed row when the primary crashes and the standby is promoted", async () => {
    // Commits stream in one by one; each id psql prints was acknowledged, i.e. flushed on the standby.
    const writer = spawn("runuser", ["-u", "postgres", "--", "psql", "-X", "-At", "-d", "crm", "-v", "ON_ERROR_STOP=1"], {
      env: a.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let acked = "";
    writer.stdout.on("data", (d: Buffer) => (acked += d.toString()));
    writer.stdin.on("error", () => undefined);
    for (let i = 1; i <= 20000; i++) writer.stdin.write(`insert into t values (${i}) returning id;\n`);
    writer.stdin.end();
    await until("some commits", 20, () => acked.split("\n").length > 200);
    const crash = Date.now();
    stopImmediate(a, pgBin!);
    await new Promise((r) => writer.on("close", r));
    const ackedIds = acked.split("\n").filter((l) => /^\d+$/.test(l));

    timings.standbyEligibleMs = await until("the standby's check to pass", 30, () => check(b) === 0);
    const t0 = Date.now();
    const promoted = ha(b, "promote");
    timings.promoteMs = Date.now() - t0;
    assert.equal(promoted.status, 0, promoted.stderr);
    timings.crashToWritableMs = Date.now() - crash;
    assert.equal(sql(b, "select pg_is_in_recovery()"), "f");
    const present = new Set(sql(b, "select id from t", "crm").split("\n"));
    const lost = ackedIds.filter((id) => !present.has(id));
    assert.deepEqual(lost, [], `${lost.length} of ${ackedIds.length} acknowledged commits missing after failover`);
    // The new primary takes writes at once: it does not wait for the dead old primary.
    const t1 = Date.now();
    sql(b, "insert into t values (-1)", "crm");
    assert.ok(Date.now() - t1 < 2000);
    timings.ackedBeforeCrash = ackedIds.length;
  });

  it("brings the old primary back, through the boot guard, as a standby of the new primary that receives new rows", async () => {
    const t0 = Date.now();
    const guard = ha(a, "guard");
    timings.guardMs = Date.now() - t0;
    assert.equal(guard.status, 0, guard.stderr);
    // The crashed old primary keeps its data: pg_rewind (after its own crash recovery), no full copy.
    assert.match(guard.stderr, /pg_rewind from/);
    assert.doesNotMatch(guard.stderr, /pg_rewind was not possible/, guard.stderr);
    assert.ok(fs.existsSync(path.join(a.data, "standby.signal")));
    const started = ha(a, "start");
    assert.equal(started.status, 0, started.stderr);
    await until("the old primary to stream from the new one", 30, () => ha(a, "state").stdout.trim() === "standby" && check(a) === 1);
    assert.equal(sql(a, "select pg_is_in_recovery()"), "t");
    // B's watch restores synchronous replication now that bbdd streams from it.
    await until(
      "synchronous replication with bbdd",
      20,
      () => sql(b, "select string_agg(sync_state, ',') from pg_stat_replication") === "quorum",
    );
    assert.equal(sql(b, "select current_setting('synchronous_standby_names')"), "ANY 1 (bbdd)");
    sql(b, "insert into t values (-2)", "crm");
    await until("the new row on the old primary", 10, () => sql(a, "select count(*) from t where id = -2", "crm") === "1");
    assert.equal(tryCount(a), tryCount(b));
    // A second guard run (another reboot) changes nothing.
    ha(a, "stop");
    const again = ha(a, "guard");
    assert.equal(again.status, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /rejoining/);
    assert.equal(ha(a, "start").status, 0);
  });

  it("lets writes through without the standby after the grace period, and waits for it again when it returns", async () => {
    ha(a, "stop");
    const t0 = Date.now();
    sql(b, "insert into t values (-3)", "crm"); // blocks until B's watch gives up on the standby
    timings.writeStallWithoutStandbyMs = Date.now() - t0;
    assert.equal(sql(b, "select current_setting('synchronous_standby_names')"), "");
    assert.equal(ha(a, "start").status, 0);
    await until("synchronous replication back", 30, () => sql(b, "select current_setting('synchronous_standby_names')") === "ANY 1 (bbdd)");
    console.log(`      timings: ${JSON.stringify(timings)}`);
  });
});
