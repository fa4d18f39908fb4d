/**
 * The database node's and the witness's role scripts, run for real twice in a sandbox: a private
 * mount namespace with overlays on /etc, /usr/local, /var/lib and /var/log (the machine's files are
 * read, nothing is written to them), systemctl and pg_ctlcluster replaced by stubs that log. The
 * second run must change nothing: no file rewritten, no restart, no reload.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { etcdWitnessRoleScript, patroniNodeRoleScript, type EtcdMember, type PatroniNodeArgs } from "../../roles/patroni";
import { pgBinDir } from "../support/postgres";
import { hasCommand, run, tempDir } from "../support/shell";

const MEMBERS: EtcdMember[] = [
  { name: "bbdd", address: "10.1.4.31" },
  { name: "bbdd2", address: "10.1.4.32" },
  { name: "nas1", address: "10.1.4.21" },
];

/** Runs `script` in the sandbox rooted at `dir` (its overlays persist between runs); returns the stubs' log of this run. */
function runSandboxed(dir: string, script: string): { status: number; stderr: string; calls: string[] } {
  const stubs = path.join(dir, "stubs");
  const log = path.join(dir, "calls.log");
  fs.writeFileSync(log, "");
  const overlays = ["/etc", "/usr/local", "/var/lib", "/var/log"]
    .map((d, i) => {
      const up = path.join(dir, `up${i}`);
      const work = path.join(dir, `work${i}`);
      fs.mkdirSync(up, { recursive: true });
      fs.mkdirSync(work, { recursive: true });
      return `mount -t overlay overlay -o lowerdir=${d},upperdir=${up},workdir=${work} ${d}`;
    })
    .join("\n");
  fs.writeFileSync(path.join(dir, "role.sh"), script);
  const r = run(
    "unshare",
    ["--mount", "--propagation", "private", "--", "bash", "-c", `set -e\n${overlays}\nPATH=${stubs}:$PATH bash ${dir}/role.sh`],
    {
      env: { ...process.env, CRM_STUB_LOG: log },
    },
  );
  return { status: r.status, stderr: r.stderr, calls: fs.readFileSync(log, "utf8").split("\n").filter(Boolean) };
}

/** What the stubs answer: every unit is active; a psql asking for recovery hears "t" (this node is the standby). */
function writeStubs(dir: string): void {
  const stubs = path.join(dir, "stubs");
  fs.mkdirSync(stubs, { recursive: true });
  const stub = (name: string, body: string) =>
    fs.writeFileSync(path.join(stubs, name), `#!/bin/bash\necho "${name} $*" >>"$CRM_STUB_LOG"\n${body}\n`, { mode: 0o755 });
  stub("systemctl", "exit 0");
  stub("pg_ctlcluster", "exit 0");
  stub("runuser", 'case "$*" in *pg_is_in_recovery*) echo t ;; *) exit 1 ;; esac');
}

describe("role scripts of the database cluster, run twice in a sandbox", function () {
  this.timeout(60_000);
  const pgBin = pgBinDir();

  before(function () {
    const users = ["etcd", "postgres"].every((u) => run("id", [u]).status === 0);
    if (process.getuid?.() !== 0 || !hasCommand("unshare") || !pgBin || !users) this.skip();
  });

  it("the witness writes etcd's settings once and starts it without waiting; the second run changes nothing", () => {
    const dir = tempDir("witness-role");
    writeStubs(dir);
    const script = etcdWitnessRoleScript({ self: "nas1", members: MEMBERS });
    const first = runSandboxed(dir, script);
    assert.equal(first.status, 0, first.stderr);
    assert.ok(first.calls.includes("systemctl restart --no-block etcd.service"), first.calls.join("\n"));
    assert.ok(fs.readFileSync(path.join(dir, "up0", "default", "etcd"), "utf8").includes("ETCD_NAME=nas1"));
    const second = runSandboxed(dir, script);
    assert.equal(second.status, 0, second.stderr);
    assert.deepEqual(
      second.calls.filter((c) => !/^systemctl (enable|is-active)/.test(c)),
      [],
      "a second run restarts nothing",
    );
  });

  it("a database node (as the standby) places every file once, with the passwords' file private; the second run changes nothing", () => {
    const dir = tempDir("patroni-role");
    writeStubs(dir);
    const args: PatroniNodeArgs = {
      name: "bbdd2",
      address: "10.1.4.32",
      peers: ["10.1.4.31"],
      etcd: MEMBERS,
      appClients: ["10.1.4.11"],
      database: "crm",
      user: "crm",
      secrets: { superuser: "su-pw", replication: "repl-pw", restApi: "rest-pw", app: "app-pw" },
      backup: { retentionFull: 2, monitoring: { listen: "10.1.4.32", nagios: "10.1.4.15" } },
      pgMajor: Number(path.basename(path.dirname(pgBin!))),
    };
    const script = patroniNodeRoleScript(args, { self: "bbdd2", members: MEMBERS });
    const first = runSandboxed(dir, script);
    assert.equal(first.status, 0, first.stderr);
    for (const expected of [
      "systemctl reload patroni.service",
      "systemctl restart nagios-nrpe-server.service",
      "systemctl daemon-reload",
      "systemctl restart --no-block etcd.service",
    ])
      assert.ok(first.calls.includes(expected), `${expected} missing from:\n${first.calls.join("\n")}`);
    const config = fs.statSync(path.join(dir, "up0", "patroni", "config.yml"));
    assert.equal(config.mode & 0o777, 0o600);
    assert.equal(config.uid, Number(run("id", ["-u", "postgres"]).stdout.trim()));
    for (const file of [
      "pgbackrest/pgbackrest.conf",
      "crm/db.env",
      "systemd/system/crm-db-backup@.service",
      "systemd/system/crm-db-backup-full.timer",
    ])
      assert.ok(fs.existsSync(path.join(dir, "up0", file)), file);
    assert.ok(fs.existsSync(path.join(dir, "up1", "sbin", "crm-db-restore")));
    // The standby does not do the leader's work.
    assert.ok(!first.calls.some((c) => c.includes("pg_isready")), "no app database work on the standby");
    const second = runSandboxed(dir, script);
    assert.equal(second.status, 0, second.stderr);
    assert.deepEqual(
      second.calls.filter((c) => /^systemctl (restart|reload|daemon-reload|start)/.test(c) || c.startsWith("pg_ctlcluster")),
      [],
      "a second run restarts and reloads nothing",
    );
  });
});
