/**
 * Backups of the single database with the real pgBackRest and PostgreSQL of this machine: the
 * rendered configuration, the operator programs (roles/files), retention, and a point-in-time
 * restore that brings back a dropped table, with pg_ctl standing in for systemd.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  BACKUP_SCHEDULE,
  backedUpDbRoleScript,
  renderArchiveConf,
  renderBackupService,
  renderBackupTimer,
  renderDbEnv,
  renderPgBackRestConf,
  renderRepoMountUnit,
  repoVolumeArgs,
  validateRetention,
  type DbHostLayout,
} from "../../roles/backup";
import { glusterFormationScript, glusterVolumeOptions } from "../../roles/nas";
import { ROLE_FILES } from "../support/patronicluster";
import { pgBinDir } from "../support/postgres";
import { freePort, hasCommand, run, tempDir, type Result } from "../support/shell";

const layout: DbHostLayout = {
  mode: "systemd",
  pgBin: "/usr/lib/postgresql/17/bin",
  pgData: "/var/lib/postgresql/17/main",
  port: 5432,
  socketDir: "/var/run/postgresql",
  unit: "postgresql@17-main",
};

describe("backups: rendered configuration", () => {
  it("keeps the configured number of full backups in the repository on the storage hosts' volume", () => {
    const conf = renderPgBackRestConf(layout, { retentionFull: 3 });
    assert.match(conf, /^\[global\]\nrepo1-path=\/var\/lib\/pgbackrest\n/m);
    assert.match(conf, /^repo1-retention-full-type=count$/m);
    assert.match(conf, /^repo1-retention-full=3$/m);
    assert.match(conf, /^\[crm\]\npg1-path=\/var\/lib\/postgresql\/17\/main\npg1-port=5432\npg1-socket-path=\/var\/run\/postgresql$/m);
    assert.match(
      renderArchiveConf(),
      /^archive_command = 'pgbackrest --config=\/etc\/pgbackrest\/pgbackrest.conf --stanza=crm archive-push %p'$/m,
    );
  });

  it("forms the repository volume on the storage hosts, mountable by the database hosts only", () => {
    const args = repoVolumeArgs(["10.1.4.21", "10.1.4.22", "10.1.4.23"], ["10.1.4.31", "10.1.4.32"]);
    assert.equal(glusterVolumeOptions(args)["auth.allow"], "10.1.4.21,10.1.4.22,10.1.4.23,10.1.4.31,10.1.4.32");
    const script = glusterFormationScript(args);
    assert.match(script, /gluster volume create '\\''pgbackrest'\\'' replica 3 10\.1\.4\.21:\/pgbackrest 10\.1\.4\.22:\/pgbackrest /);
  });

  it("refuses a retention below one full backup, or not a whole number", () => {
    for (const bad of [0, -1, 1.5, Number.NaN])
      assert.throws(
        () => renderPgBackRestConf(layout, { retentionFull: bad }),
        /backup retention must be a whole number of full backups between 1 and 9999/,
      );
    assert.doesNotThrow(() => validateRetention(1));
  });

  it("writes a header the programs source, with every value quoted", () => {
    const dir = tempDir("dbenv");
    const file = path.join(dir, "db.env");
    fs.writeFileSync(file, renderDbEnv({ ...layout, pgData: "/srv/it's here" }));
    const r = run("bash", ["-c", `set -u; . ${file}; printf '%s|' "$CRM_PG_MODE" "$CRM_PG_DATA" "$CRM_PG_UNIT" "$CRM_STANZA"`]);
    assert.equal(r.stdout, "systemd|/srv/it's here|postgresql@17-main|crm|");
    assert.throws(() => renderDbEnv({ ...layout, unit: undefined }), /needs its unit name/);
    assert.throws(() => renderDbEnv({ ...layout, mode: "patroni" }), /needs its Patroni configuration/);
  });

  it("schedules a weekly full and nightly differential backup, each timer starting its own instance", () => {
    for (const kind of ["full", "diff"] as const) {
      const timer = renderBackupTimer(kind);
      assert.match(timer, new RegExp(`^Unit=crm-db-backup@${kind}\\.service$`, "m"));
      assert.match(timer, /^Persistent=true$/m);
      assert.match(timer, /^WantedBy=timers.target$/m);
      if (hasCommand("systemd-analyze")) {
        const r = run("systemd-analyze", ["calendar", BACKUP_SCHEDULE[kind]]);
        assert.equal(r.status, 0, r.stderr);
      }
    }
    assert.match(renderBackupService(), /^ExecStart=\/usr\/local\/sbin\/crm-db-backup %i --scheduled$/m);
    assert.match(
      renderRepoMountUnit(["10.1.4.21", "10.1.4.22", "10.1.4.23"]),
      /backup-volfile-servers=10\.1\.4\.22:10\.1\.4\.23 10\.1\.4\.21:\/pgbackrest \/var\/lib\/pgbackrest/,
    );
  });

  it("is a single-server role script bash accepts, with the app's password only in psql's environment", () => {
    const script = backedUpDbRoleScript(
      { listen: "10.1.4.31", clients: ["10.1.4.11"], database: "crm", user: "crm", password: "s3cret'pw" },
      { retentionFull: 2, repoServers: ["10.1.4.21", "10.1.4.22", "10.1.4.23"] },
    );
    const file = path.join(tempDir("single-role"), "role.sh");
    fs.writeFileSync(file, script);
    assert.equal(run("bash", ["-n", file]).status, 0);
    const withSecret = script.split("\n").filter((l) => l.includes("s3cret"));
    assert.equal(withSecret.length, 1);
    assert.match(withSecret[0], /^CRM_DB_PASSWORD='s3cret'\\''pw' runuser -u postgres -- psql /);
    // The programs are installed byte for byte from roles/files.
    assert.ok(script.includes(fs.readFileSync(path.join(ROLE_FILES, "crm-db-restore"), "utf8")));
    assert.match(script, /crm_write '\/etc\/pgbackrest\/pgbackrest.conf' 0640/);
    assert.match(script, /\/usr\/local\/sbin\/crm-db-backup init\n/);
  });

  it("ships operator programs that shellcheck accepts", function () {
    if (!hasCommand("shellcheck")) this.skip();
    for (const program of ["crm-db-backup", "crm-db-restore"]) {
      const r = run("shellcheck", [path.join(ROLE_FILES, program)]);
      assert.equal(r.status, 0, r.stdout);
    }
  });
});

describe("backups of the single server: pgBackRest for real, a point-in-time restore", function () {
  this.timeout(150_000);
  const pgBin = pgBinDir();
  let dir = "";
  let env: NodeJS.ProcessEnv = {};
  let single: DbHostLayout;

  function sql(statement: string): string {
    const r = run(
      "runuser",
      ["-u", "postgres", "--", path.join(pgBin!, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", statement],
      {
        env,
      },
    );
    if (r.status !== 0) throw new Error(`${statement}: ${r.stderr}`);
    return r.stdout.trim();
  }
  const program = (name: string, ...args: string[]): Result => run(path.join(ROLE_FILES, name), args, { env });
  /** One of PostgreSQL's programs as postgres. */
  const pgTool = (tool: string, ...args: string[]): Result => run("runuser", ["-u", "postgres", "--", path.join(pgBin!, tool), ...args]);

  after(() => {
    if (single && fs.existsSync(path.join(single.pgData, "postmaster.pid")))
      pgTool("pg_ctl", "-D", single.pgData, "-m", "immediate", "-w", "stop");
  });

  before(async function () {
    if (!pgBin || process.getuid?.() !== 0 || !hasCommand("pgbackrest") || !hasCommand("runuser")) this.skip();
    dir = tempDir("backup");
    fs.chmodSync(dir, 0o755);
    const port = await freePort();
    single = { mode: "pg_ctl", pgBin: pgBin!, pgData: path.join(dir, "data"), port, socketDir: path.join(dir, "run"), unit: undefined };
    fs.mkdirSync(single.socketDir);
    const conf = path.join(dir, "pgbackrest.conf");
    fs.writeFileSync(
      conf,
      renderPgBackRestConf(single, {
        retentionFull: 2,
        repoPath: path.join(dir, "repo"),
        logPath: path.join(dir, "log"),
        lockPath: path.join(dir, "lock"),
      }),
    );
    fs.writeFileSync(path.join(dir, "db.env"), renderDbEnv(single, conf));
    run("chown", ["-R", "postgres:postgres", dir]);
    const init = pgTool("initdb", "-D", single.pgData, "--auth-local=peer", "-E", "UTF8");
    assert.equal(init.status, 0, init.stderr);
    fs.appendFileSync(
      path.join(single.pgData, "postgresql.conf"),
      `port = ${port}\nlisten_addresses = ''\nunix_socket_directories = '${single.socketDir}'\n${renderArchiveConf(conf)}`,
    );
    const start = pgTool("pg_ctl", "-D", single.pgData, "-l", path.join(dir, "pg.log"), "-w", "start");
    assert.equal(start.status, 0, start.stderr);
    env = {
      ...process.env,
      PATH: `${pgBin}:${process.env.PATH}`,
      CRM_DB_ENV: path.join(dir, "db.env"),
      PGHOST: single.socketDir,
      PGPORT: String(port),
    };
  });

  it("creates the stanza and takes the first full backup at deploy, and only once", () => {
    const first = program("crm-db-backup", "init");
    assert.equal(first.status, 0, first.stdout + first.stderr);
    const check = run(
      "runuser",
      ["-u", "postgres", "--", "pgbackrest", `--config=${path.join(dir, "pgbackrest.conf")}`, "--stanza=crm", "check"],
      { env },
    );
    assert.equal(check.status, 0, check.stdout + check.stderr);
    const again = program("crm-db-backup", "init");
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /already holds a backup/);
  });

  it("keeps only the configured number of full backups", () => {
    for (let i = 0; i < 2; i++) assert.equal(program("crm-db-backup", "full").status, 0);
    const diff = program("crm-db-backup", "diff");
    assert.equal(diff.status, 0, diff.stderr);
    const list = program("crm-db-backup", "list");
    assert.equal((list.stdout.match(/full backup:/g) ?? []).length, 2, list.stdout);
    assert.equal((list.stdout.match(/diff backup:/g) ?? []).length, 1, list.stdout);
  });

  it("refuses a time outside the backup window and a malformed one, and changes nothing", () => {
    sql("create table precious (v text); insert into precious values ('a')");
    const pidBefore = fs.readFileSync(path.join(single.pgData, "postmaster.pid"), "utf8").split("\n")[0];
    for (const time of ["1999-12-31 23:59:59+00", "2999-01-01 00:00:00+00", "not a time"]) {
      const r = program("crm-db-restore", "--to", time);
      assert.equal(r.status, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /nothing was changed/);
    }
    assert.equal(
      fs.readFileSync(path.join(single.pgData, "postmaster.pid"), "utf8").split("\n")[0],
      pidBefore,
      "PostgreSQL was not restarted",
    );
    assert.equal(sql("select count(*) from precious"), "1");
  });

  it("brings a dropped table back with crm-db-restore --to TIME", async () => {
    sql("insert into precious values ('b')");
    await new Promise((r) => setTimeout(r, 1200));
    const target = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1200));
    sql("drop table precious");
    const t0 = Date.now();
    const r = program("crm-db-restore", "--to", target);
    const ms = Date.now() - t0;
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(sql("select string_agg(v, ',' order by v) from precious"), "a,b");
    assert.equal(sql("select pg_is_in_recovery()"), "f");
    sql("insert into precious values ('c')");
    console.log(`      single-server point-in-time restore: ${ms} ms`);
  });
});
