/**
 * Releases of the app on the vnx stack, under a GET stream from c1: a good one reaches the
 * servers one after the other losing nothing; a broken one stops at the first server, which goes
 * back to its previous release, fails `pulumi up` with the reason, and leaves the CRM serving;
 * the next good one rolls forward as usual. Each release carries a schema change, expand then
 * contract (app/README.md): the expand runs at the first server's start while the others still
 * run the previous release, the contract only after the last server is on the new release, and
 * never for a release that was rolled back.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { deployScenario, stateDir, type Deployment } from "../support/deploy";
import { testStack } from "../support/pulumi";
import { clientStream, inContainer, ROOT, serversUp, waitFor } from "../support/scenario";
import { run } from "../support/shell";

const SERVERS = ["s1", "s2", "s3"];
const STACK = "rollout";

/** The release each server runs (/opt/crm points to it). */
const releases = () => SERVERS.map((s) => inContainer(s, "readlink /opt/crm").stdout.trim().replace("/opt/crm-releases/", ""));
/** When a server last switched release: the time of its /opt/crm link (release.sh renames a new link over it). */
const switchedAt = (server: string) => Number(inContainer(server, "find /opt/crm -maxdepth 0 -printf %T@").stdout);

const sql = (query: string) => inContainer("bbdd", `runuser -u postgres -- psql -X -At -d crm -c "${query}"`).stdout.trim();
/** When the migration NAME of a phase ran (its table's run_on), or undefined. */
function ranAt(phase: "expand" | "contract", name: string): number | undefined {
  const table = phase === "expand" ? "pgmigrations" : "pgmigrations_contract";
  const at = sql(`SELECT extract(epoch FROM run_on::timestamptz) FROM ${table} WHERE name = '${name}'`);
  return at ? Number(at) : undefined;
}
const hasColumn = (column: string) =>
  sql(`SELECT count(*) FROM information_schema.columns WHERE table_name = 'companies' AND column_name = '${column}'`) === "1";

/**
 * A schema change in a release: an expand migration that adds a nullable column of companies
 * and builds an index on it CONCURRENTLY (as the app's own index migrations do), and a contract
 * migration that drops it again (as a later release drops what it no longer uses).
 */
function addSchemaChange(app: string, name: string, column: string): void {
  const header = `import type { MigrationBuilder } from "node-pg-migrate";\nexport const down = false;\n`;
  fs.writeFileSync(
    path.join(app, `src/migrations/${name}.ts`),
    `${header}export function up(pgm: MigrationBuilder): void {
  pgm.noTransaction();
  pgm.sql("ALTER TABLE companies ADD COLUMN IF NOT EXISTS ${column} text");
  pgm.sql("DROP INDEX CONCURRENTLY IF EXISTS companies_${column}_idx");
  pgm.sql("CREATE INDEX CONCURRENTLY companies_${column}_idx ON companies (${column})");
}
`,
  );
  fs.writeFileSync(
    path.join(app, `src/migrations/contract/${name}.ts`),
    `${header}export function up(pgm: MigrationBuilder): void {\n  pgm.sql("ALTER TABLE companies DROP COLUMN ${column}");\n}\n`,
  );
}
// After every migration of the app (their names sort by their leading time).
const GOOD_CHANGE = { name: "1999999999000_e2e-rollout", column: "e2e_rollout" };
const BROKEN_CHANGE = { name: "1999999999100_e2e-broken", column: "e2e_broken" };
/** The good release's edit: a style change and its schema change. */
function goodEdit(app: string): void {
  fs.appendFileSync(path.join(app, "public/style.css"), "\n/* release check */\n");
  addSchemaChange(app, GOOD_CHANGE.name, GOOD_CHANGE.column);
}

describe("vnx stack: health-gated rollout of app releases", function () {
  this.timeout(30 * 60_000);
  let deployment: Deployment;
  const checkouts: string[] = [];

  /** A checkout of this commit with its app changed by `edit`: another release of the app. */
  function release(edit: (app: string) => void): string {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "crm-release-")), "crm-infra");
    const add = run("git", ["-C", ROOT, "worktree", "add", "--detach", dir, "HEAD"]);
    assert.equal(add.status, 0, add.stderr);
    checkouts.push(dir);
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
    edit(path.join(dir, "app"));
    return dir;
  }
  const upFrom = (root: string) => testStack(STACK, { dir: stateDir(STACK), root }).pulumi("up", "--yes", "--skip-preview");

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    deployment = await deployScenario(STACK, { "crm:servers": 3, "crm:rolloutTimeout": 30 });
  });

  after(() => {
    deployment?.destroy();
    for (const dir of checkouts) run("git", ["-C", ROOT, "worktree", "remove", "--force", dir]);
  });

  it("a good release reaches s1, s2 and s3 one after the other, keeps the previous one, and loses no request", async () => {
    const before = releases();
    const good = release(goodEdit);
    const stream = clientStream("c1", { seconds: 600, maxRequests: 30_000 });
    const r = upFrom(good);
    const { total, failed } = await stream.stop();
    assert.equal(r.status, 0, r.stdout.slice(-4000));
    const after = releases();
    assert.ok(
      after.every((id) => id === after[0] && id !== before[0]),
      `releases ${before} -> ${after}`,
    );
    assert.equal(inContainer("s1", `test -d /opt/crm-releases/${before[0]} && echo kept`).stdout.trim(), "kept");
    assert.ok(total > 100, `only ${total} requests ran`);
    assert.deepEqual(failed, [], `${failed.length} of ${total} failed`);

    // Expand at s1's start, while s2 and s3 still ran the previous release with the column there;
    // contract once s3 too had switched; the column is gone.
    const [expanded, contracted] = [ranAt("expand", GOOD_CHANGE.name), ranAt("contract", GOOD_CHANGE.name)];
    const switched = SERVERS.map(switchedAt);
    assert.ok(expanded && contracted, `the schema change ran: expand at ${expanded}, contract at ${contracted}`);
    assert.ok(switched[0] < expanded && expanded < switched[1], `expand at ${expanded}, servers switched at ${switched}`);
    assert.ok(switched[2] < contracted, `contract at ${contracted}, before s3 switched at ${switched[2]}`);
    assert.equal(hasColumn(GOOD_CHANGE.column), false, "the contract did not drop the column");
  });

  it("a broken release stops at s1, which goes back to its previous release; up fails saying why; the CRM keeps serving", async () => {
    const before = releases();
    // Newer than the good release (its schema change included), with one of its own; it fails
    // after its migrations, so its expand runs on s1.
    const broken = release((app) => {
      goodEdit(app);
      addSchemaChange(app, BROKEN_CHANGE.name, BROKEN_CHANGE.column);
      const server = path.join(app, "src/server.ts");
      const text = fs.readFileSync(server, "utf8");
      const afterMigrations = "  const pool = createPool(config.databaseUrl);\n";
      assert.ok(text.includes(afterMigrations), "src/server.ts no longer creates its pool after the migrations");
      const fail = `  if (process.env.NODE_ENV === "production") throw new Error("crm-e2e: broken release");\n`;
      fs.writeFileSync(server, text.replace(afterMigrations, fail + afterMigrations));
    });
    const stream = clientStream("c1", { seconds: 600, maxRequests: 30_000 });
    const r = upFrom(broken);
    const { total, failed } = await stream.stop();
    assert.notEqual(r.status, 0, "pulumi up reported success for a release that never became healthy");
    const output = (r.stdout + r.stderr).slice(-12_000); // the end: pulumi's diagnostics
    assert.match(
      output,
      /app server s1: release \S+ did not become healthy within 30s \(health check http:\/\/10\.1\.3\.11:3000\/healthz answered/,
    );
    assert.match(output, /crm-e2e: broken release/, "the app's log lines are not in the error");
    assert.deepEqual(releases(), before, "a server is not on its previous release");
    assert.deepEqual(failed, [], `${failed.length} of ${total} requests failed during the broken rollout`);
    // Its expand ran (harmless to the previous release, by the rule); its contract did not.
    assert.ok(ranAt("expand", BROKEN_CHANGE.name), "the broken release's expand did not run");
    assert.equal(ranAt("contract", BROKEN_CHANGE.name), undefined, "the contract of a rolled-back release ran");
    assert.equal(hasColumn(BROKEN_CHANGE.column), true);
    await waitFor("s1 back in rotation", 30, () => serversUp().includes("s1"));
  });

  it("a release that starts but never gets healthy (its database unreachable) is stopped and rolled back the same way", async () => {
    const before = releases();
    const unhealthy = release((app) => {
      const server = path.join(app, "src/server.ts");
      const text = fs.readFileSync(server, "utf8");
      // An address on LAN4 where no database listens: the app runs, its /healthz never answers 200.
      const detour = `process.env.DATABASE_URL = (process.env.DATABASE_URL ?? "").replace(/@[^/]+\\//, "@10.1.4.99:5432/");`;
      fs.writeFileSync(server, `if (process.env.NODE_ENV === "production") ${detour}\n${text}`);
    });
    const stream = clientStream("c1", { seconds: 600, maxRequests: 30_000 });
    const r = upFrom(unhealthy);
    const { total, failed } = await stream.stop();
    assert.notEqual(r.status, 0);
    assert.match((r.stdout + r.stderr).slice(-12_000), /app server s1: release \S+ did not become healthy within 30s/);
    assert.deepEqual(releases(), before);
    assert.deepEqual(failed, [], `${failed.length} of ${total} requests failed during the unhealthy rollout`);
    await waitFor("s1 back in rotation", 30, () => serversUp().includes("s1"));
  });

  it("the next good release rolls forward normally after the failed one", async () => {
    const stream = clientStream("c1", { seconds: 600, maxRequests: 30_000 });
    const r = upFrom(ROOT);
    const { total, failed } = await stream.stop();
    assert.equal(r.status, 0, r.stdout.slice(-4000));
    const now = releases();
    assert.ok(
      now.every((id) => id === now[0]),
      `servers on different releases: ${now}`,
    );
    assert.deepEqual(failed, [], `${failed.length} of ${total} failed`);
    const again = deployment.stack.pulumi("preview", "--expect-no-changes");
    assert.equal(again.status, 0, again.stdout.slice(-3000));
  });
});
