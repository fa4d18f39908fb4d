/**
 * crm-once (roles/files/crm-once) against a real PostgreSQL: three servers starting at once run
 * the migrate commands once per release and the seed commands once ever; a failing command fails
 * the start and is tried again at the next one.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pgBinDir } from "../support/postgres";
import { run, runAsync } from "../support/shell";

const ONCE = path.resolve(__dirname, "../../roles/files/crm-once");

describe("crm-once: the app's once-only commands", function () {
  this.timeout(120_000);
  let dir: string;
  let bin: string;
  let env: NodeJS.ProcessEnv;
  const pg = (...args: string[]) => run("runuser", ["-u", "postgres", "--", ...args]);
  const marks = () => (fs.existsSync(path.join(dir, "marks")) ? fs.readFileSync(path.join(dir, "marks"), "utf8").trim().split("\n") : []);
  const useRelease = (name: string) => {
    fs.mkdirSync(path.join(dir, "releases", name), { recursive: true });
    fs.rmSync(path.join(dir, "app"), { force: true });
    fs.symlinkSync(path.join(dir, "releases", name), path.join(dir, "app"));
  };
  const once = () => runAsync(ONCE, [], { env });

  before(function () {
    const found = pgBinDir();
    if (process.getuid?.() !== 0 || !found) this.skip();
    bin = found!;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "crm-once-"));
    fs.chmodSync(dir, 0o755);
    const data = path.join(dir, "data");
    fs.mkdirSync(data);
    run("chown", ["postgres", data, dir]);
    assert.equal(pg(`${bin}/initdb`, "-D", data, "-A", "trust", "-U", "postgres").status, 0);
    const port = String(20000 + (process.pid % 10000));
    const start = pg(
      `${bin}/pg_ctl`,
      "-D",
      data,
      "-w",
      "-l",
      path.join(dir, "pg.log"),
      "-o",
      `-p ${port} -k ${dir} -c listen_addresses=''`,
      "start",
    );
    assert.equal(start.status, 0, start.stderr);
    const psql = (sql: string) => pg(`${bin}/psql`, "-X", "-q", "-h", dir, "-p", port, "-d", "postgres", "-c", sql);
    assert.equal(psql("CREATE ROLE app LOGIN").status, 0);
    assert.equal(psql("CREATE DATABASE app OWNER app").status, 0);
    const etc = path.join(dir, "etc");
    fs.mkdirSync(etc);
    fs.writeFileSync(path.join(etc, "once.env"), `CRM_ONCE_DATABASE_URL="postgresql:///app?host=${dir}&port=${port}&user=app"\n`);
    fs.writeFileSync(path.join(etc, "crm.env"), `MARKS="${dir}/marks"\n`);
    fs.writeFileSync(path.join(etc, "migrate.sh"), 'echo "migrate $(basename "$(pwd -P)")" >>"$MARKS"\n');
    fs.writeFileSync(path.join(etc, "seed.sh"), 'echo seed >>"$MARKS"\n');
    fs.writeFileSync(path.join(dir, "marks"), "");
    run("chown", ["postgres", path.join(dir, "marks")]);
    env = {
      ...process.env,
      PATH: `${bin}:${process.env.PATH}`,
      CRM_ONCE_ETC: etc,
      CRM_ONCE_APP: path.join(dir, "app"),
      CRM_ONCE_USER: "postgres",
    };
  });

  after(() => {
    if (dir && bin) pg(`${bin}/pg_ctl`, "-D", path.join(dir, "data"), "-m", "immediate", "stop");
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("three servers starting at once: migrate runs once for the release, seed once", async () => {
    useRelease("r1");
    const results = await Promise.all([once(), once(), once()]);
    assert.deepEqual(
      results.map((r) => r.status),
      [0, 0, 0],
      results.map((r) => r.stderr).join("\n"),
    );
    assert.deepEqual(marks(), ["migrate r1", "seed"]);
  });

  it("a new release migrates again, once; the seed does not run again", async () => {
    useRelease("r2");
    await Promise.all([once(), once()]);
    assert.deepEqual(marks(), ["migrate r1", "seed", "migrate r2"]);
  });

  it("a failing migration fails the start, records nothing, and runs again at the next start", async () => {
    useRelease("r3");
    const migrate = path.join(env.CRM_ONCE_ETC!, "migrate.sh");
    const good = fs.readFileSync(migrate, "utf8");
    fs.writeFileSync(migrate, 'echo "migrate failing" >>"$MARKS"; exit 7\n');
    const failed = await once();
    assert.notEqual(failed.status, 0);
    assert.match(failed.stderr, /crm-once: the migrate commands failed/);
    fs.writeFileSync(migrate, good);
    assert.equal((await once()).status, 0);
    assert.deepEqual(marks(), ["migrate r1", "seed", "migrate r2", "migrate failing", "migrate r3"]);
  });
});
