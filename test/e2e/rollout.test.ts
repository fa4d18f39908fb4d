/**
 * Releases of the app on the vnx stack, under a GET stream from c1: a good one reaches the
 * servers one after the other losing nothing; a broken one stops at the first server, which goes
 * back to its previous release, fails `pulumi up` with the reason, and leaves the CRM serving;
 * the next good one rolls forward as usual.
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
    const good = release((app) => fs.appendFileSync(path.join(app, "public/style.css"), "\n/* release check */\n"));
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
  });

  it("a broken release stops at s1, which goes back to its previous release; up fails saying why; the CRM keeps serving", async () => {
    const before = releases();
    const broken = release((app) => {
      const server = path.join(app, "src/server.ts");
      const text = fs.readFileSync(server, "utf8");
      fs.writeFileSync(server, `if (process.env.NODE_ENV === "production") throw new Error("crm-e2e: broken release");\n${text}`);
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
