/**
 * A user's own Node.js app on the vnx stack (crm:app), with the traits of the assignment's 2017
 * CRM: Node 8, a PostgreSQL driver without SCRAM (pg 6, so md5 passwords), a migration CLI and a
 * seed run once, uploads to a folder relative to the app, no health path (TCP checks).
 * The fixture is the project's own (test/fixtures/legacy-app); nothing is fetched but npm packages.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { deployScenario, type Deployment } from "../support/deploy";
import { get, inContainer, ROOT, serversUp, spread, waitFor } from "../support/scenario";

const FIXTURE = "test/fixtures/legacy-app";
const SERVERS = ["s1", "s2", "s3"];
const APP: Record<string, string> = {
  "crm:app.source": FIXTURE,
  "crm:app.node": "8.17.0",
  "crm:app.start": "node ./bin/www",
  "crm:app.migrate[0]": "node bin/migrate.js",
  "crm:app.seed[0]": "node bin/seed.js",
  "crm:app.uploadDir": "public/uploads",
  "crm:app.md5Passwords": "true",
  "crm:app.env.PORT.value": "3000",
  "crm:app.env.DATABASE_URL.from": "databaseUrl",
  "crm:app.env.DB_HOST.from": "databaseHost",
  "crm:app.env.DB_PORT.from": "databasePort",
  "crm:app.env.DB_USER.from": "databaseUser",
  "crm:app.env.DB_PASSWORD.from": "databasePassword",
  "crm:app.env.DB_NAME.from": "databaseName",
};

const sql = (query: string) => inContainer("bbdd", `runuser -u postgres -- psql -X -At -d crm -c "${query}"`).stdout.trim();
/** The release each server runs. */
const releases = () => SERVERS.map((s) => inContainer(s, "readlink /opt/crm").stdout.trim());

describe("vnx stack: a user's own app, old style (crm:app: Node 8, pg 6, md5, relative uploads)", function () {
  this.timeout(30 * 60_000);
  let deployment: Deployment;

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    deployment = await deployScenario("userapp", { "crm:servers": 3, "crm:rolloutTimeout": 30 }, APP);
  });

  after(() => deployment?.destroy());

  it("serves the app through the firewall and the balancer, on Node 8, round-robin", async () => {
    const replies = [];
    for (let i = 0; i < 30; i++) replies.push(await get("/"));
    assert.deepEqual(
      replies.map((r) => r.status),
      Array(30).fill(200),
    );
    assert.deepEqual(spread(replies), { s1: 10, s2: 10, s3: 10 });
    const page = inContainer("c1", "curl -fsS https://10.1.2.2/");
    assert.match(page.stdout, /^legacy-app on s[123], node v8\.17\.0, 1 notes/);
  });

  it("the database stores the app user's password as md5 (its driver has no SCRAM) and the app's user owns the database", () => {
    assert.equal(sql("SELECT rolpassword LIKE 'md5%' FROM pg_authid WHERE rolname = 'crm'"), "t");
    assert.equal(sql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'crm'"), "crm");
  });

  it("ran the migration once and the seed once, though three servers started", () => {
    assert.equal(sql("SELECT count(*) FROM migration_runs"), "1");
    assert.equal(sql("SELECT count(*) FROM notes WHERE body = 'seeded'"), "1");
  });

  it("a file uploaded through s1 (to its relative public/uploads) is served by s2 and s3 and lies on all three bricks", () => {
    const body = `uploaded ${Date.now()}`;
    const put = inContainer("lb", "curl -fsS -X PUT --data-binary @- http://10.1.3.11:3000/files/e2e.txt", body);
    assert.equal(put.status, 0, put.stderr);
    for (const address of ["10.1.3.12", "10.1.3.13"]) {
      assert.equal(inContainer("lb", `curl -fsS http://${address}:3000/files/e2e.txt`).stdout, body, address);
    }
    for (const nas of ["nas1", "nas2", "nas3"]) assert.equal(inContainer(nas, "cat /nas/uploads/e2e.txt").stdout, body, nas);
  });

  it("a version whose start fails stops at s1, names it, and leaves the old version serving everywhere", async () => {
    const before = releases();
    const broken = fs.mkdtempSync(path.join(os.tmpdir(), "crm-broken-app-"));
    fs.cpSync(path.join(ROOT, FIXTURE), broken, { recursive: true });
    fs.writeFileSync(path.join(broken, "bin/www"), "#!/usr/bin/env node\nthrow new Error('crm-e2e: this version does not start');\n");
    try {
      deployment.stack.configurePath("crm:app.source", broken);
      const r = deployment.stack.pulumi("up", "--yes", "--skip-preview");
      assert.notEqual(r.status, 0);
      const output = (r.stdout + r.stderr).slice(-12_000);
      assert.match(
        output,
        /app server s1: release \S+ did not become healthy within 30s \(health check tcp:\/\/10\.1\.3\.11:3000 answered: no connection\)/,
      );
      assert.match(output, /crm-e2e: this version does not start/);
      assert.deepEqual(releases(), before);
      await waitFor("s1 back in rotation", 30, () => serversUp().includes("s1"));
      const replies = [];
      for (let i = 0; i < 12; i++) replies.push(await get("/"));
      assert.deepEqual(spread(replies), { s1: 4, s2: 4, s3: 4 });
    } finally {
      deployment.stack.configurePath("crm:app.source", FIXTURE);
      fs.rmSync(broken, { recursive: true, force: true });
    }
  });
});
