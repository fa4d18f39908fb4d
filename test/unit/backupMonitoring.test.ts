/**
 * Nagios on the database: the checks rendered for the Patroni pair, the backup-age plugin
 * (roles/files/check_crm_backup_age) in each of its states, and NRPE answering it for real.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { BACKUP_AGE_NRPE_COMMAND, renderBackupStatusUnits, renderNrpeConf } from "../../roles/backup";
import { renderNagiosObjects, type MonitorArgs } from "../../roles/monitor";
import { nagiosCommandLine } from "../support/nagios";
import { ROLE_FILES, waitFor } from "../support/patronicluster";
import { freePort, hasCommand, run, tempDir } from "../support/shell";

const PLUGIN = path.join(ROLE_FILES, "check_crm_backup_age");
const ARGS: MonitorArgs = {
  hosts: [
    { name: "bbdd", address: "10.1.4.31", role: "db" },
    { name: "bbdd2", address: "10.1.4.32", role: "db" },
    { name: "s1", address: "10.1.3.11", role: "app" },
  ],
  appPort: 3000,
  healthPath: "/healthz",
  adminPassword: "nagios-pw",
  listen: "10.1.3.15",
  database: "patroni",
};

/** Service description → check command, for both database hosts (the role's checks name each member). */
function dbServices(cfg: string): Map<string, string> {
  const services = [...cfg.matchAll(/define service \{\n([^}]*)\}/g)].map((m) => m[1]);
  return new Map(
    services
      .filter((body) => /host_name\s+bbdd,bbdd2$/m.test(body))
      .map((body) => [/service_description\s+(.*)$/m.exec(body)![1], /check_command\s+(.*)$/m.exec(body)![1]]),
  );
}

describe("Nagios on the database", () => {
  it("watches Patroni's health, its leader, the replication lag and the backups' age on the pair", () => {
    const services = dbServices(renderNagiosObjects(ARGS));
    assert.deepEqual(Object.fromEntries(services), {
      PostgreSQL: "crm-check-tcp!5432",
      "Backup age": `crm-check-nrpe!${BACKUP_AGE_NRPE_COMMAND}`,
      Patroni: "crm-check-http!8008!/health",
      "Patroni leader": "crm-check-patroni-leader!8008",
      "Replication lag": "crm-check-http!8008!/read-only?lag=16MB",
    });
    const single = dbServices(renderNagiosObjects({ ...ARGS, database: "single" }));
    assert.deepEqual([...single.keys()], ["PostgreSQL", "Backup age"]);
    assert.deepEqual([...dbServices(renderNagiosObjects({ ...ARGS, database: undefined })).keys()], ["PostgreSQL"]);
  });

  it("is a configuration nagios4 -v accepts", function () {
    if (!hasCommand("nagios4") || !fs.existsSync("/etc/nagios4/nagios.cfg")) this.skip();
    const dir = tempDir("nagios-db");
    fs.chmodSync(dir, 0o755);
    const objects = path.join(dir, "crm.cfg");
    fs.writeFileSync(objects, renderNagiosObjects(ARGS));
    const main = fs.readFileSync("/etc/nagios4/nagios.cfg", "utf8").replace(/^cfg_dir=\/etc\/nagios4\/conf\.d$/m, `cfg_file=${objects}`);
    fs.writeFileSync(path.join(dir, "nagios.cfg"), main);
    const r = run("nagios4", ["-v", path.join(dir, "nagios.cfg")]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Total Warnings: 0/);
  });

  it("records the newest backup every 5 minutes, as root, for the plugin", () => {
    const { service, timer } = renderBackupStatusUnits();
    assert.match(service, /^ExecStart=\/usr\/local\/sbin\/crm-db-backup status-file$/m);
    assert.match(timer, /^OnUnitActiveSec=5min$/m);
  });
});

describe("the backup-age plugin", () => {
  const dir = tempDir("backup-age");
  const status = path.join(dir, "status");
  // Read when each test runs, not when the file loads: the suite may reach it minutes later.
  const nowSeconds = () => Math.floor(Date.now() / 1000);

  function check(newest: string | undefined, ...args: string[]): { status: number; out: string } {
    if (newest === undefined) fs.rmSync(status, { force: true });
    else fs.writeFileSync(status, `${newest}\n`);
    const r = run(PLUGIN, [...args, "-f", status]);
    return { status: r.status, out: r.stdout.trim() };
  }

  it("is OK for a fresh backup, WARNING after a missed night, CRITICAL after two or with none", () => {
    const now = nowSeconds();
    const ok = check(String(now - 3 * 3600));
    assert.equal(ok.status, 0, ok.out);
    assert.match(ok.out, /^OK: newest backup ended .* UTC, 3 h ago\|age=108\d\ds;93600;180000;0$/);
    assert.equal(check(String(now - 30 * 3600)).status, 1);
    assert.match(check(String(now - 30 * 3600)).out, /^WARNING: /);
    assert.equal(check(String(now - 60 * 3600)).status, 2);
    assert.equal(check(String(now - 5 * 3600), "-w", "2", "-c", "4").status, 2);
    const none = check("");
    assert.equal(none.status, 2);
    assert.match(none.out, /^CRITICAL: the repository holds no backup$/);
  });

  it("is UNKNOWN when the status is missing, stale, unreadable, or the thresholds make no sense", () => {
    const now = nowSeconds();
    assert.equal(check(undefined).status, 3);
    assert.equal(check("yesterday").status, 3);
    assert.equal(check(String(now), "-w", "5", "-c", "2").status, 3);
    fs.writeFileSync(status, `${now}\n`);
    const old = new Date(Date.now() - 40 * 60 * 1000);
    fs.utimesSync(status, old, old);
    const r = run(PLUGIN, ["-f", status]);
    assert.equal(r.status, 3);
    assert.match(r.stdout, /^UNKNOWN: the backup status was last refreshed 40 min ago/);
  });

  it("answers Nagios through NRPE, configured as the role configures it", async function () {
    if (!fs.existsSync("/usr/sbin/nrpe") || !fs.existsSync("/usr/lib/nagios/plugins/check_nrpe")) this.skip();
    this.timeout(30_000);
    const nrpeDir = tempDir("nrpe");
    fs.chmodSync(nrpeDir, 0o755);
    // The plugin and its status where the nagios user can read them.
    const plugin = path.join(nrpeDir, "check_crm_backup_age");
    fs.copyFileSync(PLUGIN, plugin);
    fs.chmodSync(plugin, 0o755);
    const statusFile = "/var/lib/crm-infra/db-backup.status";
    const conf = renderNrpeConf({ listen: "127.0.0.1", nagios: "127.0.0.1" }, plugin).replace(statusFile, path.join(nrpeDir, "status"));
    fs.writeFileSync(path.join(nrpeDir, "status"), `${nowSeconds() - 3600}\n`);
    fs.chmodSync(path.join(nrpeDir, "status"), 0o644);
    const port = await freePort();
    // Debian's main nrpe.cfg settings that matter, then our file, as the include_dir would read it.
    const main = path.join(nrpeDir, "nrpe.cfg");
    fs.writeFileSync(
      main,
      `server_port=${port}\nnrpe_user=nagios\nnrpe_group=nagios\ndont_blame_nrpe=0\nallowed_hosts=127.0.0.1\ninclude=${path.join(nrpeDir, "crm.cfg")}\n`,
    );
    fs.writeFileSync(path.join(nrpeDir, "crm.cfg"), conf);
    const nrpe = spawn("/usr/sbin/nrpe", ["-c", main, "-f"], { stdio: "ignore" });
    try {
      const command = nagiosCommandLine(renderNagiosObjects(ARGS), `crm-check-nrpe!${BACKUP_AGE_NRPE_COMMAND}`, "127.0.0.1");
      const answer = await waitFor("NRPE to answer", 15, () => {
        const r = run("bash", ["-c", `${command} -p ${port}`]);
        return r.status === 0 ? r.stdout : undefined;
      });
      assert.match(answer.value, /^OK: newest backup ended .*, 1 h ago\|age=/);
    } finally {
      if (nrpe.exitCode === null) nrpe.kill("SIGKILL");
    }
  });
});
